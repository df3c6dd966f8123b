//! Inbound mutual TLS (`skiff up --tls-client-ca FILE`, `--tls-client-auth`):
//! clients without a certificate, or with one from another CA, refused (or,
//! `optional`, served without an identity); the `x-forwarded-client-cert`
//! header guests see, and a client's own copy of it stripped on every kind of
//! connection; HTTP/2; the CA file reloaded without a restart while a broken
//! one is refused; bad CA files reported at start.
//!
//! Certificates come from CAs of the test's own (`openssl`, as in `tls`); the
//! expected subject and hash come from `openssl` too, not from Skiff's code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use test_programs_artifacts::{HTTP_ECHO_COMPONENT, HTTP_HELLO_COMPONENT};

use crate::harness::{AppDir, Server, empty, replace_file, shared_cache, tempdir, up_fails};
use crate::http::component;

/// How long a changed CA file may take to be loaded.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

const XFCC: &str = "x-forwarded-client-cert";

// A CA of its own (`ca.crt`), with a server certificate (`server.crt`,
// `server.key`, for `127.0.0.1`), and client certificates it signs.
use crate::tls::Certs as Pki;

/// A client certificate and its key, and what a guest should see of it.
struct Client {
    cert: PathBuf,
    key: PathBuf,
}

/// What mutual TLS adds to the TLS tests' certificates: client
/// certificates signed by their CA.
impl Pki {
    /// A client certificate `name.crt` for `subject` (openssl's `/K=V/…`
    /// form) with the extensions `ext` (an openssl extension file) besides
    /// `extendedKeyUsage = clientAuth`.
    fn client(&self, name: &str, subject: &str, ext: &str) -> Result<Client> {
        skiff_test_support::make_client_certificate(self.dir.path(), name, subject, ext)?;
        Ok(Client {
            cert: self.dir.path().join(format!("{name}.crt")),
            key: self.dir.path().join(format!("{name}.key")),
        })
    }

    /// `openssl ARGS` in the CA's directory; its stdout.
    fn openssl(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .context("could not run `openssl` (apt-get install -y openssl; .ci/run does)")?;
        ensure!(
            out.status.success(),
            "`openssl {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }
}

impl Client {
    /// `Hash=…;Subject="…"` as openssl sees this certificate: the SHA-256
    /// fingerprint, and the subject in RFC 2253/4514 form, quoted as Envoy
    /// quotes it.
    fn hash_and_subject(&self, pki: &Pki) -> Result<String> {
        let cert = self.cert.to_str().context("path")?;
        let fingerprint =
            pki.openssl(&["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"])?;
        let hash = fingerprint
            .trim()
            .split_once('=')
            .context("no fingerprint")?
            .1
            .replace(':', "")
            .to_ascii_lowercase();
        let subject = pki.openssl(&[
            "x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253",
        ])?;
        let subject = subject
            .trim()
            .strip_prefix("subject=")
            .context("no subject")?
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        Ok(format!("Hash={hash};Subject=\"{subject}\""))
    }
}

/// A TLS client trusting `ca` (for the server), presenting `client` if given,
/// offering `alpn`.
fn connector(
    ca: &Path,
    client: Option<&Client>,
    alpn: &[&str],
) -> Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let chain =
                CertificateDer::pem_file_iter(&client.cert)?.collect::<Result<Vec<_>, _>>()?;
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(&client.key)?)?
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to `addr` (verified as `127.0.0.1`).
async fn connect(addr: SocketAddr, connector: tokio_rustls::TlsConnector) -> Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    Ok(
        tokio::time::timeout(Duration::from_secs(30), connector.connect(name, tcp))
            .await
            .context("TLS handshake timed out")??,
    )
}

/// `GET /echo/` on `tls` (HTTP/2 if ALPN chose it, else HTTP/1.1), with a
/// forged `x-forwarded-client-cert`; the status and the echo's JSON.
async fn echo(tls: Tls, addr: SocketAddr) -> Result<(http::StatusCode, serde_json::Value)> {
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let req = http::Request::get(format!("https://{addr}/echo/"))
        .header(XFCC, "Hash=forged;Subject=\"CN=admin\"")
        .header(XFCC, "By=forged");
    let resp = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let resp = sender.send_request(req.body(empty())?);
        let resp = tokio::time::timeout(Duration::from_secs(30), resp).await??;
        ensure!(resp.version() == http::Version::HTTP_2);
        resp
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = req
            .header(http::header::HOST, addr.to_string())
            .body(empty())?;
        tokio::time::timeout(Duration::from_secs(30), sender.send_request(req)).await??
    };
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    ensure!(status == 200, "{status}: {body:?}");
    Ok((status, serde_json::from_slice(&body)?))
}

/// The values of the `x-forwarded-client-cert` headers the echo guest saw.
fn xfcc(json: &serde_json::Value) -> Vec<String> {
    json["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pair| pair[0].as_str() == Some(XFCC))
        .filter_map(|pair| pair[1].as_str().map(str::to_string))
        .collect()
}

/// The guest's view of one connection by `connector`: the XFCC values it saw.
async fn served(addr: SocketAddr, connector: tokio_rustls::TlsConnector) -> Result<Vec<String>> {
    let tls = connect(addr, connector).await?;
    let (_, json) = echo(tls, addr).await?;
    Ok(xfcc(&json))
}

/// Fails unless a connection by `connector` is refused with a TLS alert;
/// returns the alert. In TLS 1.3 the server checks the client's certificate
/// after the client has finished its handshake, so the alert may come in
/// answer to the request.
async fn refused(addr: SocketAddr, connector: tokio_rustls::TlsConnector) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = match connect(addr, connector).await {
        Ok(tls) => tls,
        Err(err) => return Ok(format!("{err:#}")),
    };
    let request = format!("GET /echo/ HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let outcome = async {
        tls.write_all(request.as_bytes()).await?;
        tls.read_to_end(&mut answer).await
    };
    match tokio::time::timeout(Duration::from_secs(30), outcome).await? {
        Err(err) if err.to_string().contains("alert") => Ok(err.to_string()),
        outcome => bail!(
            "not refused with an alert: {outcome:?}, {:?}",
            String::from_utf8_lossy(&answer)
        ),
    }
}

fn manifest() -> String {
    [
        component("/echo/...", "echo", HTTP_ECHO_COMPONENT, ""),
        component("/hello", "hello", HTTP_HELLO_COMPONENT, ""),
    ]
    .concat()
}

fn serve_mtls(app: &AppDir, pki: &Pki, client_ca: &Path, extra: &[&str]) -> Result<Server> {
    Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--tls-cert")
            .arg(pki.cert())
            .arg("--tls-key")
            .arg(pki.key());
        cmd.arg("--tls-client-ca").arg(client_ca);
        cmd.args(extra);
    })
}

/// Required client certificates (the default): no certificate, or one from
/// another CA, is refused; a good one is served over HTTP/1.1 and HTTP/2, and
/// the guest sees exactly one `x-forwarded-client-cert` — the host's, naming
/// the certificate's hash, subject, first URI SAN and each DNS SAN — never
/// the one the client sent.
#[tokio::test(flavor = "multi_thread")]
async fn required_client_certificates() -> Result<()> {
    let (pki, other) = (Pki::new()?, Pki::new()?);
    let good = pki.client(
        "good",
        "/C=US/O=Skiff Test/OU=a,b \"q\"/CN=client one",
        "subjectAltName = URI:spiffe://skiff.test/ns/default/sa/client, \
         URI:https://second.test/, DNS:client.skiff.test, DNS:other.skiff.test\n",
    )?;
    let stranger = other.client("stranger", "/CN=stranger", "")?;
    let app = AppDir::with_manifest(&manifest())?;
    let server = serve_mtls(&app, &pki, &pki.ca(), &[])?;
    let addr = server.addr();

    let why = refused(addr, connector(&pki.ca(), None, &[])?)
        .await
        .context("no client certificate")?;
    ensure!(why.contains("CertificateRequired"), "{why}");
    // Both test CAs are named alike: the stranger's certificate fails on its
    // signature (or, were the names different, on an unknown issuer).
    refused(addr, connector(&pki.ca(), Some(&stranger), &[])?).await?;

    let expected = format!(
        "{};URI=spiffe://skiff.test/ns/default/sa/client;DNS=client.skiff.test;DNS=other.skiff.test",
        good.hash_and_subject(&pki)?
    );
    ensure!(
        expected.contains(r#"Subject="CN=client one,OU=a\\,b \\\"q\\\",O=Skiff Test,C=US""#),
        "{expected}"
    );
    for alpn in [&["http/1.1"][..], &["h2"], &[]] {
        let seen = served(addr, connector(&pki.ca(), Some(&good), alpn)?)
            .await
            .with_context(|| format!("ALPN {alpn:?}"))?;
        assert_eq!(seen, [expected.as_str()], "ALPN {alpn:?}");
    }
    // Several requests on one connection each get it.
    let tls = connect(addr, connector(&pki.ca(), Some(&good), &["h2"])?).await?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    for _ in 0..3 {
        let req = http::Request::get(format!("https://{addr}/echo/again"))
            .header(XFCC, "Hash=forged")
            .body(empty())?;
        let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
            .await?
            .context("a request on a kept connection")?;
        let body = resp.into_body().collect().await?.to_bytes();
        assert_eq!(xfcc(&serde_json::from_slice(&body)?), [expected.as_str()]);
    }
    Ok(())
}

/// A client's own `x-forwarded-client-cert` never reaches a guest: not over
/// TLS without client certificates, and not over clear text.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_header_is_stripped() -> Result<()> {
    let pki = Pki::new()?;
    let app = AppDir::with_manifest(&manifest())?;
    let tls = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--tls-cert")
            .arg(pki.cert())
            .arg("--tls-key")
            .arg(pki.key());
    })?;
    let seen = served(tls.addr(), connector(&pki.ca(), None, &["http/1.1"])?).await?;
    assert_eq!(seen, Vec::<String>::new());
    let seen = served(tls.addr(), connector(&pki.ca(), None, &["h2"])?).await?;
    assert_eq!(seen, Vec::<String>::new());

    let plain = Server::start(app.path(), shared_cache()?)?;
    let req = http::Request::get(plain.url("/echo/plain"))
        .header(XFCC, "Hash=forged;Subject=\"CN=admin\"")
        .body(empty())?;
    let resp = crate::harness::send(req).await?;
    resp.assert_status(200);
    assert_eq!(xfcc(&resp.json()?), Vec::<String>::new());
    Ok(())
}

/// `--tls-client-auth optional`: a client without a certificate is served,
/// without an identity (and without the one it forged); one with a good
/// certificate is served with it; one from another CA is refused.
#[tokio::test(flavor = "multi_thread")]
async fn optional_client_certificates() -> Result<()> {
    let (pki, other) = (Pki::new()?, Pki::new()?);
    let good = pki.client("good", "/CN=optional client", "")?;
    let stranger = other.client("stranger", "/CN=stranger", "")?;
    let app = AppDir::with_manifest(&manifest())?;
    let server = serve_mtls(&app, &pki, &pki.ca(), &["--tls-client-auth", "optional"])?;
    let addr = server.addr();

    let seen = served(addr, connector(&pki.ca(), None, &[])?).await?;
    assert_eq!(seen, Vec::<String>::new());
    let seen = served(addr, connector(&pki.ca(), Some(&good), &["h2"])?).await?;
    assert_eq!(seen, [good.hash_and_subject(&pki)?]);
    refused(addr, connector(&pki.ca(), Some(&stranger), &[])?).await?;
    Ok(())
}

/// Replacing the CA file switches which clients are accepted, for new
/// connections, without a restart; a CA file that fails to load is logged
/// and the CAs loaded last stay.
#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_client_ca_applies_without_a_restart() -> Result<()> {
    let (first, second) = (Pki::new()?, Pki::new()?);
    let (old, new) = (
        first.client("old", "/CN=old client", "")?,
        second.client("new", "/CN=new client", "")?,
    );
    let served_dir = tempdir()?;
    let cas = served_dir.path().join("clients.pem");
    std::fs::copy(first.ca(), &cas)?;
    let app = AppDir::with_manifest(&manifest())?;
    let server = serve_mtls(&app, &first, &cas, &[])?;
    let addr = server.addr();
    let trust = first.ca();
    let old_client = || connector(&trust, Some(&old), &[]);
    let new_client = || connector(&trust, Some(&new), &[]);

    assert_eq!(
        served(addr, old_client()?).await?,
        [old.hash_and_subject(&first)?]
    );
    refused(addr, new_client()?).await?;

    replace_file(&cas, &std::fs::read_to_string(second.ca())?)?;
    let logged = server
        .stderr()
        .wait_for("loaded for new connections", EFFECT_BOUND)?;
    assert!(
        logged.contains(&format!("client CAs `{}`", cas.display())),
        "{logged}"
    );
    assert_eq!(
        served(addr, new_client()?).await?,
        [new.hash_and_subject(&second)?]
    );
    refused(addr, old_client()?).await?;

    replace_file(&cas, "not a certificate\n")?;
    let logged = server.stderr().wait_for("not reloaded", EFFECT_BOUND)?;
    assert!(
        logged.contains(&format!(
            "TLS client CA file `{}` holds no certificate",
            cas.display()
        )),
        "{logged}"
    );
    assert_eq!(
        served(addr, new_client()?).await?,
        [new.hash_and_subject(&second)?]
    );
    refused(addr, old_client()?).await?;
    Ok(())
}

/// A CA file that cannot verify clients stops `skiff up` before it serves,
/// naming the file and what is wrong; the flags without what they need are
/// usage errors.
#[test]
fn bad_client_ca_files_are_reported_at_start() -> Result<()> {
    let pki = Pki::new()?;
    let app = AppDir::with_manifest(&component("/hello", "hello", HTTP_HELLO_COMPONENT, ""))?;
    let cache = shared_cache()?;
    let up = |ca: &Path| {
        up_fails(app.path(), cache, |cmd| {
            cmd.arg("--tls-cert")
                .arg(pki.cert())
                .arg("--tls-key")
                .arg(pki.key());
            cmd.arg("--tls-client-ca").arg(ca);
        })
    };
    let missing = pki.dir.path().join("missing.pem");
    up(&missing)?
        .assert_stderr_contains("could not read TLS client CA file")
        .assert_stderr_contains(&missing.display().to_string());
    let text = pki.dir.path().join("text.pem");
    std::fs::write(&text, "not PEM at all\n")?;
    up(&text)?.assert_stderr_contains(&format!(
        "TLS client CA file `{}` holds no certificate",
        text.display()
    ));
    up(&pki.key())?.assert_stderr_contains(&format!(
        "TLS client CA file `{}` holds no certificate",
        pki.key().display()
    ));
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )?;
    up(&garbage)?.assert_stderr_contains(&format!(
        "TLS client CA file `{}`: certificate 1 is not usable as a CA",
        garbage.display()
    ));

    up_fails(app.path(), cache, |cmd| {
        cmd.arg("--tls-client-ca").arg(pki.ca());
    })?
    .assert_code(2)
    .assert_stderr_contains("--tls-cert");
    up_fails(app.path(), cache, |cmd| {
        cmd.arg("--tls-cert")
            .arg(pki.cert())
            .arg("--tls-key")
            .arg(pki.key());
        cmd.args(["--tls-client-auth", "optional"]);
    })?
    .assert_code(2)
    .assert_stderr_contains("--tls-client-ca");
    Ok(())
}
