//! Inbound TLS (`skiff up --tls-cert FILE --tls-key FILE`): HTTPS over
//! HTTP/1.1 and HTTP/2 (chosen by ALPN), the `https` scheme and the authority
//! guests see (WASI 0.2 and 0.3, Spin's `spin-full-url`), a renewed
//! certificate served without a restart while a broken renewal is refused,
//! clear-text clients and stalled handshakes closed, and bad certificate
//! files reported at start, naming the file.
//!
//! Certificates come from a CA of the test's own (`openssl`, as in the
//! outbound TLS tests), which the test's client trusts and nothing else does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tempfile::TempDir;
use test_programs_artifacts::{
    HTTP_ECHO_COMPONENT, HTTP_HELLO_COMPONENT, HTTP_OUTBOUND3_COMPONENT,
};

use crate::harness::{AppDir, Server, empty, install, shared_cache, tempdir, up_fails};
use crate::http::{component, raw};

/// How long a renewed certificate may take to be served.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// `ca.crt`, `server.crt` and `server.key` (for `localhost` and `127.0.0.1`),
/// from a CA of their own (`mtls` signs client certificates with it too).
pub(crate) struct Certs {
    pub(crate) dir: TempDir,
}

impl Certs {
    pub(crate) fn new() -> Result<Self> {
        let dir = tempdir()?;
        skiff_test_support::make_certificates(dir.path())?;
        Ok(Certs { dir })
    }

    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    pub(crate) fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// The server certificate, as a client receives it.
    fn leaf(&self) -> Result<CertificateDer<'static>> {
        Ok(CertificateDer::from_pem_file(self.cert())?)
    }
}

/// A TLS client trusting only `ca`, offering `alpn`, speaking TLS 1.3 or 1.2.
fn connector(ca: &Path, alpn: &[&str]) -> Result<tokio_rustls::TlsConnector> {
    connector_for(ca, alpn, rustls::DEFAULT_VERSIONS)
}

/// [`connector`], speaking only `versions`.
fn connector_for(
    ca: &Path,
    alpn: &[&str],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to `addr` (verified as `127.0.0.1` against `ca`).
async fn connect(addr: SocketAddr, ca: &Path, alpn: &[&str]) -> Result<Tls> {
    connect_with(addr, connector(ca, alpn)?).await
}

/// A TLS connection to `addr` made by `connector`.
async fn connect_with(addr: SocketAddr, connector: tokio_rustls::TlsConnector) -> Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let handshake = connector.connect(name, tcp);
    Ok(tokio::time::timeout(Duration::from_secs(30), handshake)
        .await
        .context("TLS handshake timed out")??)
}

/// One answer: status, headers, body and HTTP version.
struct Answer {
    parts: http::response::Parts,
    body: bytes::Bytes,
}

impl Answer {
    fn json(&self) -> Result<serde_json::Value> {
        ensure!(self.parts.status == 200, "{:?} {:?}", self.parts, self.body);
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// `GET path` over HTTP/1.1 on `tls`, with `Host: ADDR`.
async fn get_h1(tls: Tls, addr: SocketAddr, path: &str) -> Result<Answer> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(empty())?;
    exchange(sender.send_request(req)).await
}

/// `GET https://ADDR{path}` over HTTP/2 on `tls`.
async fn get_h2(tls: Tls, addr: SocketAddr, path: &str) -> Result<Answer> {
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(format!("https://{addr}{path}")).body(empty())?;
    let answer = exchange(sender.send_request(req)).await?;
    ensure!(answer.parts.version == http::Version::HTTP_2);
    Ok(answer)
}

async fn exchange(
    sent: impl Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
) -> Result<Answer> {
    let resp = tokio::time::timeout(Duration::from_secs(30), sent)
        .await
        .context("no response within 30 s")??;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Answer { parts, body })
}

/// The value of header `name` in an http_echo JSON description.
fn echoed_header(json: &serde_json::Value, name: &str) -> Option<String> {
    json["headers"].as_array()?.iter().find_map(|pair| {
        (pair[0].as_str()? == name).then(|| pair[1].as_str().map(str::to_string))?
    })
}

fn manifest() -> String {
    [
        component("/echo/...", "echo", HTTP_ECHO_COMPONENT, ""),
        component("/p3/...", "p3", HTTP_OUTBOUND3_COMPONENT, ""),
        component("/hello", "hello", HTTP_HELLO_COMPONENT, ""),
    ]
    .concat()
}

fn serve_tls(app: &AppDir, cert: &Path, key: &Path, extra: &[&str]) -> Result<Server> {
    Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        cmd.args(extra);
    })
}

/// HTTP/1.1 (offered by ALPN, or with no ALPN at all; TLS 1.3 or 1.2) and
/// HTTP/2 (by ALPN) over TLS; guests see `https` and the authority the client named, WASI 0.2
/// and 0.3 alike, and Spin's `spin-full-url` is an `https://` URL. The same
/// WASI 0.3 guest over clear text sees `http`.
#[tokio::test(flavor = "multi_thread")]
async fn https_over_http1_and_http2() -> Result<()> {
    let certs = Certs::new()?;
    let app = AppDir::with_manifest(&manifest())?;
    let server = serve_tls(&app, &certs.cert(), &certs.key(), &[])?;
    let addr = server.addr();
    let banner = server.stdout().text();
    ensure!(
        banner.contains(&format!("Serving https://{addr}")),
        "{banner}"
    );

    for alpn in [&["http/1.1"][..], &[]] {
        let tls = connect(addr, &certs.ca(), alpn).await?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let expected = (!alpn.is_empty()).then(|| b"http/1.1".to_vec());
        assert_eq!(negotiated, expected, "offered {alpn:?}");
        let json = get_h1(tls, addr, "/echo/one?x=1").await?.json()?;
        assert_eq!(json["scheme"], "https", "{json}");
        assert_eq!(json["authority"], addr.to_string(), "{json}");
        assert_eq!(json["path_with_query"], "/echo/one?x=1", "{json}");
        assert_eq!(
            echoed_header(&json, "spin-full-url").as_deref(),
            Some(format!("https://{addr}/echo/one?x=1").as_str()),
            "{json}"
        );
    }

    // A client that speaks only TLS 1.2.
    let tls12 = connector_for(&certs.ca(), &[], &[&rustls::version::TLS12])?;
    let tls = connect_with(addr, tls12).await?;
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let json = get_h1(tls, addr, "/echo/tls12").await?.json()?;
    assert_eq!(json["scheme"], "https", "{json}");

    let tls = connect(addr, &certs.ca(), &["h2", "http/1.1"]).await?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let json = get_h2(tls, addr, "/echo/two").await?.json()?;
    assert_eq!(json["scheme"], "https", "{json}");
    assert_eq!(json["authority"], addr.to_string(), "{json}");
    assert_eq!(
        echoed_header(&json, "spin-full-url").as_deref(),
        Some(format!("https://{addr}/echo/two").as_str()),
        "{json}"
    );

    // WASI 0.3 reads scheme and authority from the request's target.
    let x_target = |answer: Answer| -> Result<String> {
        ensure!(answer.parts.status == 200, "{:?}", answer.parts);
        let value = answer
            .parts
            .headers
            .get("x-target")
            .context("no x-target")?;
        Ok(value.to_str()?.to_string())
    };
    let tls = connect(addr, &certs.ca(), &["http/1.1"]).await?;
    let seen = x_target(get_h1(tls, addr, "/p3/?target").await?)?;
    assert_eq!(seen, format!("https {addr}"));
    let tls = connect(addr, &certs.ca(), &["h2"]).await?;
    let seen = x_target(get_h2(tls, addr, "/p3/?target").await?)?;
    assert_eq!(seen, format!("https {addr}"));

    let plain = Server::start(app.path(), shared_cache()?)?;
    let resp = crate::harness::get(&plain.url("/p3/?target")).await?;
    resp.assert_status(200);
    let seen = resp.headers.get("x-target").context("no x-target")?;
    assert_eq!(seen.to_str()?, format!("http {}", plain.addr()));
    Ok(())
}

/// A clear-text request to the TLS port is answered `400`, saying the port
/// speaks HTTPS, and closed; a client that stalls its handshake, or never starts
/// one, is cut by `--idle-timeout`; the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn clear_text_and_stalled_handshakes_are_closed() -> Result<()> {
    let certs = Certs::new()?;
    let app = AppDir::with_manifest(&manifest())?;
    let server = serve_tls(&app, &certs.cert(), &certs.key(), &["--idle-timeout", "1s"])?;
    let addr = server.addr();
    let plain = raw(addr, "GET /hello HTTP/1.1\r\nhost: skiff\r\n\r\n").await?;
    assert!(
        plain.starts_with("HTTP/1.0 400 Bad Request\r\n"),
        "{plain:?}"
    );
    assert!(
        plain.ends_with(
            "\r\n\r\nBad Request: this server speaks HTTPS; send the request over TLS (https://)\n"
        ),
        "{plain:?}"
    );
    assert_eq!(raw(addr, b"").await?, "", "a silent client");
    // The first bytes of a ClientHello record, then nothing.
    assert_eq!(raw(addr, b"\x16\x03\x01\x02\x00\x01").await?, "");

    let tls = connect(addr, &certs.ca(), &["http/1.1"]).await?;
    let answer = get_h1(tls, addr, "/hello").await?;
    assert_eq!(answer.parts.status, 200);
    assert_eq!(&answer.body[..], b"Hello from Skiff!\n");
    Ok(())
}

/// Renewing the certificate files (as cert-manager or certbot does) changes
/// the certificate new connections get, without a restart; a renewal whose
/// key is not the certificate's is refused with an error, and the
/// certificate being served stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_without_a_restart() -> Result<()> {
    let (first, second, third) = (Certs::new()?, Certs::new()?, Certs::new()?);
    let served = tempdir()?;
    let (cert, key) = (served.path().join("tls.crt"), served.path().join("tls.key"));
    install(first.cert(), &cert)?;
    install(first.key(), &key)?;
    let app = AppDir::with_manifest(&manifest())?;
    let server = serve_tls(&app, &cert, &key, &[])?;
    let addr = server.addr();
    let leaf = |tls: &Tls| tls.get_ref().1.peer_certificates().map(|c| c[0].clone());
    let tls = connect(addr, &first.ca(), &[]).await?;
    assert_eq!(leaf(&tls), Some(first.leaf()?));

    install(second.key(), &key)?;
    install(second.cert(), &cert)?;
    let deadline = Instant::now() + EFFECT_BOUND;
    let tls = loop {
        match connect(addr, &second.ca(), &[]).await {
            Ok(tls) => break tls,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => bail!(
                "the renewed certificate was not served within {EFFECT_BOUND:?}: {err:#}\nstderr:\n{}",
                server.stderr().text()
            ),
        }
    };
    assert_eq!(leaf(&tls), Some(second.leaf()?));
    let answer = get_h1(tls, addr, "/hello").await?;
    assert_eq!(answer.parts.status, 200);
    server
        .stderr()
        .wait_for("loaded for new connections", EFFECT_BOUND)?;

    // A certificate without its key: refused, and the second one stays.
    install(third.cert(), &cert)?;
    let logged = server.stderr().wait_for("not reloaded", EFFECT_BOUND)?;
    assert!(
        logged.contains("is not the private key of the first certificate in"),
        "{logged}"
    );
    let tls = connect(addr, &second.ca(), &[]).await?;
    assert_eq!(leaf(&tls), Some(second.leaf()?));
    ensure!(connect(addr, &third.ca(), &[]).await.is_err());
    Ok(())
}

/// Certificate files that cannot serve stop `skiff up` before it serves,
/// with an error naming the file and what is wrong; `--tls-cert` without
/// `--tls-key` is a usage error.
#[test]
fn bad_tls_files_are_reported_at_start() -> Result<()> {
    let (one, other) = (Certs::new()?, Certs::new()?);
    let app = AppDir::with_manifest(&component("/hello", "hello", HTTP_HELLO_COMPONENT, ""))?;
    let cache = shared_cache()?;
    let up = |cert: &Path, key: &Path| {
        up_fails(app.path(), cache, |cmd| {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        })
    };
    let missing = one.dir.path().join("missing.pem");
    up(&missing, &one.key())?
        .assert_stderr_contains("could not read TLS certificate file")
        .assert_stderr_contains(&missing.display().to_string());
    up(&one.cert(), &other.key())?.assert_stderr_contains(&format!(
        "TLS key file `{}` is not the private key of the first certificate in `{}`",
        other.key().display(),
        one.cert().display()
    ));
    up(&one.cert(), &one.cert())?.assert_stderr_contains(&format!(
        "TLS key file `{}` holds no private key",
        one.cert().display()
    ));
    up(&one.key(), &one.key())?.assert_stderr_contains(&format!(
        "TLS certificate file `{}` holds no certificate",
        one.key().display()
    ));
    up_fails(app.path(), cache, |cmd| {
        cmd.arg("--tls-cert").arg(one.cert());
    })?
    .assert_code(2)
    .assert_stderr_contains("--tls-key");
    Ok(())
}
