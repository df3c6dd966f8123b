//! Tests of [`super`]: sending over real loopback servers.

use super::*;
use http_body_util::BodyExt;
use skiff_outbound_networking::OutboundTarget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Five seconds for everything.
const OPTIONS: RequestOptions = RequestOptions {
    connect_timeout: Some(Duration::from_secs(5)),
    first_byte_timeout: Some(Duration::from_secs(5)),
    between_bytes_timeout: Some(Duration::from_secs(5)),
};

fn sender(target: &OutboundTarget) -> Sender<'_> {
    Sender {
        component: "test",
        target,
    }
}

/// A name that resolved to several granted addresses is sent to the first
/// that accepts a connection (a dual-stack name whose IPv6 address is
/// unreachable from here still works), with the path alone in the
/// request line and the name in `host`.
#[tokio::test]
async fn the_first_address_that_accepts_serves() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await
            .unwrap();
        String::from_utf8(seen).unwrap()
    });
    let body = http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::get("http://api.example:8080/a/b?c=d")
        .header(http::header::HOST, "api.example:8080")
        .body(body)
        .unwrap();
    let target = OutboundTarget::from_url("http://api.example:8080").unwrap();
    let (response, io) = send(
        request,
        &[closed, open],
        Transport::Http1,
        &OPTIONS,
        &sender(&target),
        &Arc::new(Pool::default()),
        false,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let (body, done) = tokio::join!(response.into_body().collect(), io);
    assert_eq!(body.unwrap().to_bytes(), "ok");
    done.unwrap();
    let head = server.await.unwrap();
    assert!(head.starts_with("GET /a/b?c=d HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("host: api.example:8080\r\n"), "{head}");
}

/// A request body goes out whole: with its `content-length`, or chunked
/// when the guest streams one of unknown length.
#[tokio::test]
async fn request_bodies_are_sent() {
    for declared in [true, false] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            // Until the body's end: its length, or the last chunk.
            while !(seen.ends_with(b"hello, upstream") || seen.ends_with(b"0\r\n\r\n")) {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(seen).unwrap()
        });
        let body = match declared {
            true => http_body_util::Full::new(Bytes::from_static(b"hello, upstream"))
                .map_err(|never| match never {})
                .boxed_unsync(),
            false => Chunks(vec!["upstream", "hello, "]).boxed_unsync(),
        };
        let mut request = http::Request::post("http://api.example/items")
            .header(http::header::HOST, "api.example");
        if declared {
            request = request.header(http::header::CONTENT_LENGTH, "15");
        }
        let target = OutboundTarget::from_url("http://api.example:80").unwrap();
        let (response, io) = send(
            request.body(body).unwrap(),
            &[addr],
            Transport::Http1,
            &OPTIONS,
            &sender(&target),
            &Arc::new(Pool::default()),
            false,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 201);
        drop(response);
        io.await.unwrap();
        let seen = server.await.unwrap();
        assert!(seen.starts_with("POST /items HTTP/1.1\r\n"), "{seen}");
        match declared {
            true => assert!(
                seen.contains("content-length: 15\r\n")
                    && seen.ends_with("\r\n\r\nhello, upstream"),
                "{seen}"
            ),
            false => assert!(
                seen.contains("transfer-encoding: chunked\r\n")
                    && seen.contains("7\r\nhello, \r\n8\r\nupstream\r\n0\r\n\r\n"),
                "{seen}"
            ),
        }
    }
}

/// An upstream on loopback that answers each request on a connection
/// with `conn N req M` (keep-alive, with a `content-length`), and once
/// `close_after` requests on a connection closes it on reading the next
/// one, unanswered (as a server that times the connection out while a
/// request is on its way does). Returns its address and how many
/// connections it accepted.
async fn keep_alive_upstream(
    close_after: Option<usize>,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                for req in 1.. {
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    if close_after.is_some_and(|n| req > n) {
                        return;
                    }
                    let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                    seen.drain(..end + 4);
                    let body = format!("conn {conn} req {req}");
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                    if socket.write_all((head + &body).as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// `method` `http://api.example/` with `body` (if any) through `pool`:
/// the response's body, or the error.
async fn exchange(
    addrs: &[SocketAddr],
    pool: &Arc<Pool>,
    method: http::Method,
    body: Option<&'static str>,
) -> Result<String, HttpError> {
    exchange_by(Transport::Http1, addrs, pool, method, body).await
}

/// [`exchange`] sent by `transport`.
async fn exchange_by(
    transport: Transport,
    addrs: &[SocketAddr],
    pool: &Arc<Pool>,
    method: http::Method,
    body: Option<&'static str>,
) -> Result<String, HttpError> {
    let target = OutboundTarget::from_url("http://api.example:80").unwrap();
    let mut request = http::Request::builder()
        .method(method)
        .uri("http://api.example/")
        .header(http::header::HOST, "api.example");
    let body = match body {
        Some(text) => {
            request = request.header(http::header::CONTENT_LENGTH, text.len());
            http_body_util::Full::new(Bytes::from_static(text.as_bytes()))
                .map_err(|never| match never {})
                .boxed_unsync()
        }
        None => WasiBody::default(),
    };
    let (response, io) = send(
        request.body(body).unwrap(),
        addrs,
        transport,
        &OPTIONS,
        &sender(&target),
        pool,
        true,
    )
    .await?;
    let body = response.into_body().collect().await?.to_bytes();
    io.await?;
    Ok(String::from_utf8(body.to_vec()).unwrap())
}

/// `GET http://api.example/` through `pool`: the response's body.
async fn get(addrs: &[SocketAddr], pool: &Arc<Pool>) -> String {
    exchange(addrs, pool, http::Method::GET, None)
        .await
        .unwrap()
}

/// Requests one after the other share one connection; each goes back to
/// the pool once its response has been read.
#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let (addr, accepted) = keep_alive_upstream(None).await;
    let pool = Arc::new(Pool::default());
    for req in 1..=3 {
        assert_eq!(get(&[addr], &pool).await, format!("conn 1 req {req}"));
        assert_eq!(pool.idle_count(), 1);
    }
    let got = exchange(&[addr], &pool, http::Method::POST, Some("form")).await;
    assert_eq!(got.unwrap(), "conn 1 req 4");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A pooled connection is only taken for an address the request may reach.
#[tokio::test]
async fn a_pooled_connection_serves_only_granted_addresses() {
    let (first, _) = keep_alive_upstream(None).await;
    let (second, _) = keep_alive_upstream(None).await;
    let pool = Arc::new(Pool::default());
    assert_eq!(get(&[first], &pool).await, "conn 1 req 1");
    // Same destination, but its name now resolves elsewhere.
    assert_eq!(get(&[second], &pool).await, "conn 1 req 1");
    assert_eq!(pool.idle_count(), 2);
    assert_eq!(get(&[first], &pool).await, "conn 1 req 2");
}

/// A kept-alive connection the server closes as a request arrives: a
/// request that may be repeated goes again on a new connection; one with
/// a body gets the error, since it may have been acted on.
#[tokio::test]
async fn a_request_lost_to_a_closing_connection_is_repeated_if_it_may_be() {
    let (addr, accepted) = keep_alive_upstream(Some(1)).await;
    let pool = Arc::new(Pool::default());
    assert_eq!(get(&[addr], &pool).await, "conn 1 req 1");
    assert_eq!(get(&[addr], &pool).await, "conn 2 req 1");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    let got = exchange(&[addr], &pool, http::Method::POST, Some("pay")).await;
    assert!(got.is_err(), "{got:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// Connections unused for the idle timeout are closed.
#[tokio::test]
async fn idle_connections_expire() {
    let (addr, accepted) = keep_alive_upstream(None).await;
    let pool = Arc::new(Pool::with_idle_timeout(Duration::from_millis(300)));
    assert_eq!(get(&[addr], &pool).await, "conn 1 req 1");
    assert_eq!(pool.idle_count(), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(pool.idle_count(), 0, "the reaper closed it");
    assert_eq!(get(&[addr], &pool).await, "conn 2 req 1");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A clear-text server that speaks HTTP/2 only (prior knowledge), on
/// loopback: answers each request after `delay` with `conn N VERSION
/// SCHEME AUTHORITY`. Returns its address and how many connections it
/// accepted.
async fn h2c_upstream(delay: Duration) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
            let service = hyper::service::service_fn(move |req: http::Request<_>| async move {
                tokio::time::sleep(delay).await;
                let uri = req.uri();
                let body = format!(
                    "conn {conn} {:?} {} {}",
                    req.version(),
                    uri.scheme_str().unwrap_or("-"),
                    uri.authority().map_or("-", |a| a.as_str())
                );
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                    Bytes::from(body),
                )))
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    (addr, accepted)
}

/// h2c: requests go as HTTP/2 from the first byte, with `:scheme http`
/// and the URL's authority, and share one connection, those sent at once
/// each on a stream of its own (the server answers each after 200 ms, so
/// they overlap).
#[tokio::test]
async fn h2c_requests_share_one_connection() {
    let (addr, accepted) = h2c_upstream(Duration::from_millis(200)).await;
    let pool = Arc::new(Pool::default());
    let get = move |pool: Arc<Pool>| async move {
        exchange_by(Transport::H2c, &[addr], &pool, http::Method::GET, None).await
    };
    let expected = "conn 1 HTTP/2.0 http api.example";
    assert_eq!(get(pool.clone()).await.unwrap(), expected);
    let mut at_once = tokio::task::JoinSet::new();
    for _ in 0..6 {
        at_once.spawn(get(pool.clone()));
    }
    while let Some(answer) = at_once.join_next().await {
        assert_eq!(answer.unwrap().unwrap(), expected);
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(pool.stats().opened, 1);
    assert_eq!(pool.stats().reused, 6);
    // The same destination over HTTP/1.1 is another pool key: its
    // requests never take the h2c connection.
    let http1 = exchange(&[addr], &pool, http::Method::GET, None).await;
    assert!(http1.is_err(), "{http1:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// h2c to a server that speaks HTTP/1.1 only is `HTTP-protocol-error`.
#[tokio::test]
async fn h2c_to_an_http1_server_is_a_protocol_error() {
    let (addr, _) = keep_alive_upstream(None).await;
    let pool = Arc::new(Pool::default());
    let got = exchange_by(Transport::H2c, &[addr], &pool, http::Method::GET, None).await;
    assert!(matches!(got, Err(HttpError::HttpProtocolError)), "{got:?}");
}

/// A body of unknown length, sent in `self.0`'s pieces (last first).
struct Chunks(Vec<&'static str>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        let next = self.0.pop();
        Poll::Ready(
            next.map(|piece| Ok(http_body::Frame::data(Bytes::from_static(piece.as_bytes())))),
        )
    }
}
