//! A native hyper 1.x server answering `Hello from Skiff!` on every path — the same
//! response as `examples/hello`, without WebAssembly. Usage: `native-hello ADDR
//! [--tls CERT_PEM KEY_PEM]`; with `--tls` it serves HTTPS (the upstream of
//! `benches/outbound`).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let tls = match std::env::args().nth(2).as_deref() {
        Some("--tls") => {
            let arg = |n| std::env::args().nth(n).expect("--tls CERT_PEM KEY_PEM");
            Some(tls_acceptor(&arg(3), &arg(4))?)
        }
        Some(other) => panic!("unknown argument `{other}`"),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Serving {scheme}://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(|_req| async {
                let mut resp =
                    hyper::Response::new(Full::new(Bytes::from_static(b"Hello from Skiff!\n")));
                resp.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("text/plain"),
                );
                Ok::<_, Infallible>(resp)
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
}

/// A TLS acceptor presenting the certificate chain and key in these PEM files.
fn tls_acceptor(cert: &str, key: &str) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |err: &dyn std::fmt::Display| std::io::Error::other(err.to_string());
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(&e))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}
