//! Whom outbound HTTPS trusts and what it presents: the system's roots
//! (`SSL_CERT_FILE`), and the runtime config's `[[client_tls]]` entries (a
//! private CA per component and destination, a client certificate for mutual
//! TLS, applied by a reload), against an `openssl s_server` whose CA nothing
//! trusts by default. WASI 0.2 and 0.3 guests send through the same client.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tempfile::tempdir;

use crate::harness::{AppDir, Server, get, replace_file, shared_cache, up_fails};
use crate::http::HttpsServer;

/// How long a reload may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// An app whose components `out` and `other` (WASI 0.2) and `out3` (WASI 0.3)
/// may each `GET https://127.0.0.1:PORT`.
fn manifest(port: u16) -> String {
    crate::outbound_pool::manifest("https", port)
}

/// What component `route` answers for its `GET` of the server's page.
async fn fetch(server: &Server, route: &str, port: u16) -> Result<String> {
    let resp = get(&server.url(&format!("{route}?url=https://127.0.0.1:{port}/"))).await?;
    resp.assert_status(200);
    Ok(resp.text())
}

/// Whether a page is `openssl s_server -www`'s, fetched whole.
fn is_the_page(text: &str) -> bool {
    text.starts_with("status: 200\n") && text.contains("s_server")
}

/// With no `[[client_tls]]` entry, HTTPS trusts the system's roots, which
/// `SSL_CERT_FILE` names (as for `rediss://`, `mqtts://` and PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
async fn https_trusts_the_system_roots() -> Result<()> {
    let https = HttpsServer::start()?;
    let app = AppDir::with_manifest(&manifest(https.port))?;
    let ca = https.dir.path().join("ca.crt");
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.env("SSL_CERT_FILE", &ca);
    })?;
    let text = fetch(&server, "/out", https.port).await?;
    assert!(is_the_page(&text), "{text}");
    Ok(())
}

/// A `[[client_tls]]` entry makes its components trust a private CA for its
/// hosts (a relative `ca_roots_file` is read beside the runtime config), and
/// nothing else: before the reload that adds it, and for a component it does
/// not name, the certificate is the guest's `TLS-certificate-error` and the
/// log says how to trust its CA.
#[tokio::test(flavor = "multi_thread")]
async fn client_tls_trusts_a_private_ca() -> Result<()> {
    let https = HttpsServer::start()?;
    let port = https.port;
    let app = AppDir::with_manifest(&manifest(port))?;
    app.write(
        "certs/internal-ca.pem",
        std::fs::read(https.dir.path().join("ca.crt"))?,
    )?;
    let rc = app.write("runtime-config.toml", "")?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;

    let text = fetch(&server, "/out", port).await?;
    assert_eq!(text, "error: ErrorCode::TlsCertificateError\n");
    server
        .stderr()
        .wait_for("UnknownIssuer", Duration::from_secs(5))?;
    assert!(
        server
            .stderr()
            .text()
            .contains("`[[client_tls]]` entry with `ca_roots_file`"),
        "{}",
        server.stderr().text()
    );

    replace_file(
        &rc,
        &format!(
            "[[client_tls]]\ncomponent_ids = [\"out\", \"out3\"]\nhosts = [\"127.0.0.1:{port}\"]\nca_roots_file = \"certs/internal-ca.pem\"\n"
        ),
    )?;
    let deadline = Instant::now() + EFFECT_BOUND;
    loop {
        let text = fetch(&server, "/out", port).await?;
        if is_the_page(&text) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the `[[client_tls]]` entry did not apply within {EFFECT_BOUND:?}: {text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = fetch(&server, "/out3", port).await?;
    assert!(text.contains("s_server"), "WASI 0.3: {text}");
    let text = fetch(&server, "/other", port).await?;
    assert_eq!(
        text, "error: ErrorCode::TlsCertificateError\n",
        "a component the entry does not name"
    );
    Ok(())
}

/// An entry with `client_cert_file` and `client_private_key_file` presents
/// that certificate to a server that requires one; a component whose entry
/// has none is refused by that server: the guest gets `TLS-alert-received`
/// (`certificate_required`) and the log names the entry that applied.
#[tokio::test(flavor = "multi_thread")]
async fn client_tls_presents_a_client_certificate() -> Result<()> {
    let https = HttpsServer::start_requiring_client_certificate()?;
    let port = https.port;
    let app = AppDir::with_manifest(&manifest(port))?;
    let dir = https.dir.path().display();
    let rc = app.write(
        "runtime-config.toml",
        format!(
            "[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"127.0.0.1\"]\n\
             ca_roots_file = \"{dir}/ca.crt\"\nclient_cert_file = \"{dir}/client.crt\"\n\
             client_private_key_file = \"{dir}/client.key\"\n\n\
             [[client_tls]]\ncomponent_ids = [\"other\"]\nhosts = [\"127.0.0.1\"]\n\
             ca_roots_file = \"{dir}/ca.crt\"\n"
        ),
    )?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;
    let text = fetch(&server, "/out", port).await?;
    assert!(is_the_page(&text), "{text}");
    // TLS 1.3: the server's refusal comes after the client's side of the
    // handshake, with the response; it is still the TLS alert it is.
    let text = fetch(&server, "/other", port).await?;
    assert!(
        text.starts_with("error: ErrorCode::TlsAlertReceived(")
            && text.contains("CertificateRequired"),
        "without a client certificate: {text}"
    );
    let log = server
        .stderr()
        .wait_for("TLS failed", Duration::from_secs(5))?;
    assert!(
        log.contains("the request used `[[client_tls]]` entry 2 (trusting 1 CA certificate(s) from `ca_roots_file`)"),
        "{log}"
    );
    Ok(())
}

/// A `[[client_tls]]` entry that cannot be used stops `skiff up` before it
/// serves, naming the runtime config, the entry and the key.
#[test]
fn client_tls_mistakes_are_reported() -> Result<()> {
    let certs = tempdir()?;
    skiff_test_support::make_certificates(certs.path())?;
    let ca = certs.path().join("ca.crt").display().to_string();
    let key = certs.path().join("server.key").display().to_string();
    let app = AppDir::with_manifest(&manifest(443))?;
    let cases = [
        (
            format!("[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"api.example.com\"]\nclient_cert_file = \"{ca}\"\n"),
            "`[[client_tls]]` entry 1: `client_cert_file` needs `client_private_key_file`",
        ),
        (
            "[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"api.example.com\"]\nca_roots_file = \"missing.pem\"\n".to_string(),
            "`[[client_tls]]` entry 1: `ca_roots_file` `",
        ),
        (
            format!("[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"api.example.com\"]\nca_roots_file = \"{key}\"\n"),
            "holds no PEM certificate",
        ),
        (
            format!("[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"api.example.com\"]\nclient_cert_file = \"{ca}\"\nclient_private_key_file = \"{key}\"\n"),
            "the client certificate and private key cannot be used together",
        ),
        (
            "[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"https://api.example.com\"]\n".to_string(),
            "`[[client_tls]]` entry 1: `hosts`: `https://api.example.com` is not a host or host:port",
        ),
        (
            "[[client_tls]]\ncomponent_ids = []\nhosts = [\"api.example.com\"]\n".to_string(),
            "`[[client_tls]]` entry 1: `component_ids`: may not be empty",
        ),
        (
            "[[client_tls]]\ncomponent_ids = [\"out\"]\nhosts = [\"api.example.com\"]\nca_root_file = \"x.pem\"\n".to_string(),
            "`[[client_tls]]` entry 1: unknown key `ca_root_file`",
        ),
    ];
    for (config, expected) in cases {
        let rc = app.write("runtime-config.toml", &config)?;
        let out = up_fails(app.path(), shared_cache()?, |cmd| {
            cmd.arg("--runtime-config").arg(&rc);
        })?;
        assert!(
            out.stderr
                .contains(&format!("runtime config `{}`", rc.display()))
                && out.stderr.contains(expected),
            "{config}\nexpected `{expected}` in:\n{}",
            out.stderr
        );
    }
    Ok(())
}
