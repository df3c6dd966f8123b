//! Inbound TLS (`skiff up --tls-cert FILE --tls-key FILE`): the server's
//! certificate chain and private key, read from PEM files, offered with ALPN
//! `h2` and `http/1.1`, and replaceable while the server runs
//! ([`ServerTls::reload`]), so a renewed certificate (cert-manager, certbot)
//! takes effect for new connections without a restart. A reload that fails
//! (a half-written file, a key that is not the certificate's) keeps the
//! certificate being served.
//!
//! Mutual TLS (`--tls-client-ca FILE`, [`TlsFiles::client_ca`]): clients
//! present a certificate chaining to one of the file's CAs (or, with
//! [`ClientAuth::Optional`], none at all); the CA file is reloaded with the
//! certificate. Who the client is reaches the guest in the
//! `x-forwarded-client-cert` header ([`XFCC`]), in the form Envoy and Istio
//! use: `Hash=<sha256 of the leaf>;Subject="<RFC 4514 DN>";URI=<first URI
//! SAN>;DNS=<each DNS SAN>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

/// Where the server's certificate chain and private key are, and the CAs of
/// its clients' certificates if it asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates: the server's first, then the intermediates a client
    /// needs to reach its root.
    pub cert: PathBuf,
    /// The PEM private key of the first certificate (PKCS#8, PKCS#1 RSA or
    /// SEC1 EC).
    pub key: PathBuf,
    /// PEM CA certificates that clients' certificates must chain to (mutual
    /// TLS); `None`: clients are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
    /// Whether a client may connect without a certificate when `client_ca`
    /// is set.
    pub client_auth: ClientAuth,
}

impl TlsFiles {
    /// `cert` and `key`, without client certificates.
    pub fn new(cert: PathBuf, key: PathBuf) -> Self {
        TlsFiles {
            cert,
            key,
            client_ca: None,
            client_auth: ClientAuth::Required,
        }
    }

    /// The files a reload reads: certificate, key, then the client CAs.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.cert.clone(), self.key.clone()];
        paths.extend(self.client_ca.clone());
        paths
    }
}

/// With [`TlsFiles::client_ca`]: which clients are served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client presents a certificate from one of the CAs; a handshake
    /// without one fails.
    #[default]
    Required,
    /// A client without a certificate is served too (without
    /// `x-forwarded-client-cert`); one whose certificate does not chain to the
    /// CAs is still refused.
    Optional,
}

/// The request header that tells a guest which client certificate the
/// connection presented; the server removes any that a client sent.
pub const XFCC: http::HeaderName = http::HeaderName::from_static("x-forwarded-client-cert");

/// The server's TLS configuration: one [`rustls::ServerConfig`], which
/// [`ServerTls::reload`] replaces for the connections after it.
pub struct ServerTls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    config: ArcSwap<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads `files`; the error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = server_config(&files, &provider)?;
        Ok(Arc::new(ServerTls {
            files,
            provider,
            config: ArcSwap::from_pointee(config),
        }))
    }

    /// Reads the files again: connections from now on get what they hold
    /// (certificate, key and client CAs); those already open keep theirs. The
    /// session tickets start afresh, so no session made before resumes under
    /// CAs that might no longer accept its client. On error nothing changes.
    pub fn reload(&self) -> Result<()> {
        let config = server_config(&self.files, &self.provider)?;
        self.config.store(Arc::new(config));
        Ok(())
    }

    /// The files it reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// What accepts one connection: the handshake, then the TLS stream.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.load_full())
    }
}

/// The whole configuration `files` make: certificate, client verifier, ALPN
/// and a new session ticketer.
fn server_config(files: &TlsFiles, provider: &Arc<CryptoProvider>) -> Result<rustls::ServerConfig> {
    let key = read_certified_key(files, provider)?;
    let verifier = match &files.client_ca {
        None => WebPkiClientVerifier::no_client_auth(),
        Some(path) => read_client_verifier(path, files.client_auth, provider)?,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("the TLS provider offers no safe protocol version")?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Resumption without a server-side session store.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
        .context("could not make a TLS session ticketer")?;
    Ok(config)
}

/// A verifier of client certificates chaining to the CAs in `path`.
fn read_client_verifier(
    path: &Path,
    mode: ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let cas = read_certificates(path, "client CA")?;
    let mut roots = rustls::RootCertStore::empty();
    for (n, ca) in cas.into_iter().enumerate() {
        roots.add(ca).map_err(|err| {
            anyhow!(
                "TLS client CA file `{}`: certificate {} is not usable as a CA: {err}",
                path.display(),
                n + 1
            )
        })?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = match mode {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .map_err(|err| anyhow!("TLS client CA file `{}`: {err}", path.display()))
}

/// The `x-forwarded-client-cert` value for the certificate the client of
/// `conn` presented, if it presented one: computed once per connection.
pub(crate) fn forwarded_client_cert(conn: &rustls::ServerConnection) -> Option<http::HeaderValue> {
    let leaf = conn.peer_certificates()?.first()?;
    let value = xfcc_value(leaf);
    http::HeaderValue::from_bytes(value.as_bytes()).ok()
}

/// `Hash=…;Subject="…";URI=…;DNS=…;DNS=…` for the DER certificate `leaf`,
/// as Envoy writes it: parts the certificate lacks are left out.
fn xfcc_value(leaf: &[u8]) -> String {
    use sha2::Digest;
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;

    let mut value = format!("Hash={}", hex::encode(sha2::Sha256::digest(leaf)));
    let cert = match x509_cert::Certificate::from_der(leaf) {
        Ok(cert) => cert,
        Err(err) => {
            tracing::debug!("client certificate not parsed for {XFCC}: {err}");
            return value;
        }
    };
    let tbs = &cert.tbs_certificate;
    if !tbs.subject.0.is_empty() {
        push_part(&mut value, "Subject", &tbs.subject.to_string(), true);
    }
    let names = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san.0,
        Ok(None) => Vec::new(),
        Err(err) => {
            tracing::debug!("client certificate's subject alternative names not parsed: {err}");
            Vec::new()
        }
    };
    let uri = names.iter().find_map(|name| match name {
        GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_ref()),
        _ => None,
    });
    if let Some(uri) = uri {
        push_part(&mut value, "URI", uri, false);
    }
    for name in &names {
        if let GeneralName::DnsName(dns) = name {
            push_part(&mut value, "DNS", dns.as_ref(), false);
        }
    }
    value
}

/// Appends `;key=text` to `value`: `text` in double quotes (with `"` and `\`
/// escaped) when `quote` says so or it holds `,`, `;`, `=` or `"`. A `text`
/// with control characters, which no header may carry, is left out.
fn push_part(value: &mut String, key: &str, text: &str, quote: bool) {
    if text.chars().any(|c| c.is_control()) {
        return;
    }
    value.push(';');
    value.push_str(key);
    value.push('=');
    if quote || text.contains([',', ';', '=', '"']) {
        value.push('"');
        for c in text.chars() {
            if matches!(c, '"' | '\\') {
                value.push('\\');
            }
            value.push(c);
        }
        value.push('"');
    } else {
        value.push_str(text);
    }
}

/// The chain and key of `files`, checked to belong together.
fn read_certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let chain = read_certificates(&files.cert, "certificate")?;
    let der = read_key(&files.key)?;
    let key = provider.key_provider.load_private_key(der).map_err(|err| {
        anyhow!(
            "TLS key file `{}`: unusable private key: {err}",
            files.key.display()
        )
    })?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(_) => bail!(
            "TLS key file `{}` is not the private key of the first certificate in `{}`",
            files.key.display(),
            files.cert.display()
        ),
    }
}

/// The PEM certificates in `path`, a TLS `what` file; at least one.
fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| anyhow!("TLS {what} file `{}`: {err}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "TLS {what} file `{}` holds no certificate (a PEM `BEGIN CERTIFICATE` block)",
            path.display()
        );
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read(path, "key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|err| match err {
        pem::Error::NoItemsFound => anyhow!(
            "TLS key file `{}` holds no private key (a PEM `BEGIN PRIVATE KEY`, \
             `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)",
            path.display()
        ),
        err => anyhow!("TLS key file `{}`: {err}", path.display()),
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .with_context(|| format!("could not read TLS {what} file `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles::new(dir.join("cert.pem"), dir.join("key.pem"))
    }

    #[test]
    fn bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("skiff-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = files(&dir);
        let err = format!("{:#}", ServerTls::load(files.clone()).unwrap_err());
        assert!(err.contains("could not read TLS certificate file"), "{err}");
        assert!(err.contains("cert.pem"), "{err}");

        std::fs::write(&files.cert, "not a certificate\n").unwrap();
        let err = format!("{:#}", ServerTls::load(files.clone()).unwrap_err());
        assert!(err.contains("holds no certificate"), "{err}");

        std::fs::write(
            &files.cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(&files.key, "").unwrap();
        let err = format!("{:#}", ServerTls::load(files.clone()).unwrap_err());
        assert!(err.contains("holds no private key"), "{err}");
        assert!(err.contains("key.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn xfcc_parts_are_quoted_as_envoy_quotes_them() {
        let mut value = String::from("Hash=ab");
        push_part(&mut value, "Subject", "CN=a\\,b", true);
        push_part(&mut value, "URI", "spiffe://x.test/ns/a", false);
        push_part(&mut value, "DNS", "a;b=\"c\"", false);
        push_part(&mut value, "DNS", "bad\nname", false);
        assert_eq!(
            value,
            r#"Hash=ab;Subject="CN=a\\,b";URI=spiffe://x.test/ns/a;DNS="a;b=\"c\"""#
        );
    }
}
