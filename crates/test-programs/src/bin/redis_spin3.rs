//! Exercises `spin:redis/redis@3.0.0` (raw wit-bindgen bindings of the
//! vendored `wit/deps/spin-redis@3.0.0`), one operation per request.
//!
//! That interface is made of `async func`s, which a guest may only call from
//! an async task, so this guest is a WASI 0.3 HTTP component exporting
//! `wasi:http/handler@0.3.0`, as Spin 3 apps built with spin-sdk 7 are.
//! Requests and answers are those of `redis_spin2`.

use test_programs::query_param;
use test_programs::sql::query_params;

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:redis-spin3;
            world guest {
                import spin:redis/redis@3.0.0;
                export wasi:http/handler@0.3.0;
            }
        ",
        path: [
            "../../wit/deps/wasi-clocks@0.3.0",
            "../../wit/deps/wasi-random@0.3.0",
            "../../wit/deps/wasi-filesystem@0.3.0",
            "../../wit/deps/wasi-sockets@0.3.0",
            "../../wit/deps/wasi-cli@0.3.0",
            "../../wit/deps/wasi-http@0.3.0",
            "../../wit/deps/spin-redis@3.0.0",
        ],
        generate_all,
    });
}

use bindings::exports::wasi::http::handler::Guest;
use bindings::spin::redis::redis::{Connection, Error, RedisParameter, RedisResult};
use bindings::wasi::http::types::{ErrorCode, Fields, Request, Response};
use bindings::{wit_future, wit_stream};

fn error_text(err: Error) -> String {
    match err {
        Error::InvalidAddress => "error: invalid-address".into(),
        Error::TooManyConnections => "error: too-many-connections".into(),
        Error::TypeError => "error: type-error".into(),
        Error::Other(m) => format!("error: other: {m}"),
    }
}

fn result_text(result: &RedisResult) -> String {
    match result {
        RedisResult::Nil => "nil".into(),
        RedisResult::Status(s) => format!("status:{s}"),
        RedisResult::Int64(i) => format!("int:{i}"),
        RedisResult::Binary(b) => format!("bin:{}", String::from_utf8_lossy(b)),
    }
}

async fn run(path: &str, address: &str, op: &str, body: Vec<u8>) -> Result<Option<String>, Error> {
    let key = query_param(path, "key").unwrap_or_default();
    let conn = Connection::open(address.to_string()).await?;
    Ok(Some(match op {
        "open" => "ok".into(),
        "set" => {
            conn.set(key, body).await?;
            "ok".into()
        }
        "publish" => {
            let channel = query_param(path, "channel").unwrap_or_default();
            conn.publish(channel, body).await?;
            "ok".into()
        }
        "get" => match conn.get(key).await? {
            Some(value) => format!("some:{}", String::from_utf8_lossy(&value)),
            None => "none".into(),
        },
        "incr" => conn.incr(key).await?.to_string(),
        "del" => conn.del(query_params(path, "key")).await?.to_string(),
        "sadd" => conn.sadd(key, query_params(path, "v")).await?.to_string(),
        "srem" => conn.srem(key, query_params(path, "v")).await?.to_string(),
        "smembers" => {
            let mut members = conn.smembers(key).await?;
            members.sort();
            members.join(",")
        }
        "execute" => {
            let command = query_param(path, "cmd").unwrap_or_default();
            let args: Vec<RedisParameter> = query_params(path, "arg")
                .into_iter()
                .map(|arg| match arg.split_once(':') {
                    Some(("i", n)) => RedisParameter::Int64(n.parse().expect("i:<integer>")),
                    Some((_, text)) => RedisParameter::Binary(text.as_bytes().to_vec()),
                    None => RedisParameter::Binary(arg.into_bytes()),
                })
                .collect();
            let results = conn.execute(command, args).await?;
            results
                .iter()
                .map(result_text)
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => return Ok(None),
    }))
}

/// A `text/plain` response; the body is written after the handler returns.
fn respond(status: u16, text: String) -> Result<Response, ErrorCode> {
    let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
        .map_err(|_| ErrorCode::InternalError(Some("bad header".into())))?;
    let (mut contents_tx, contents_rx) = wit_stream::new();
    let (_trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(contents_rx), trailers_rx);
    response
        .set_status_code(status)
        .map_err(|()| ErrorCode::InternalError(Some("bad status".into())))?;
    wit_bindgen::spawn_local(async move {
        let rest = contents_tx.write_all(text.into_bytes()).await;
        assert!(
            rest.is_empty(),
            "the host stopped reading the response body"
        );
    });
    Ok(response)
}

struct Handler;

bindings::export!(Handler with_types_in bindings);

impl Guest for Handler {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let (Some(address), Some(op)) = (query_param(&path, "address"), query_param(&path, "op"))
        else {
            return respond(400, "expected ?address=<address>&op=<op>".into());
        };
        let (_done_tx, done_rx) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Request::consume_body(request, done_rx);
        let body = body.collect().await;
        match run(&path, &address, &op, body).await {
            Ok(Some(text)) => respond(200, text),
            Ok(None) => respond(400, format!("unknown op `{op}`")),
            Err(err) => respond(200, error_text(err)),
        }
    }
}

fn main() {}
