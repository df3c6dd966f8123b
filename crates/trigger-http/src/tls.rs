//! Inbound TLS (`skiff up --tls-cert FILE --tls-key FILE`): the server's
//! certificate chain and private key, read from PEM files, offered with ALPN
//! `h2` and `http/1.1`, and replaceable while the server runs
//! ([`ServerTls::reload`]), so a renewed certificate (cert-manager, certbot)
//! takes effect for new connections without a restart. A reload that fails
//! (a half-written file, a key that is not the certificate's) keeps the
//! certificate being served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Where the server's certificate chain and private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates: the server's first, then the intermediates a client
    /// needs to reach its root.
    pub cert: PathBuf,
    /// The PEM private key of the first certificate (PKCS#8, PKCS#1 RSA or
    /// SEC1 EC).
    pub key: PathBuf,
}

/// The server's TLS configuration: one [`rustls::ServerConfig`] whose
/// certificate [`ServerTls::reload`] replaces for the connections after it.
pub struct ServerTls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<ArcSwap<CertifiedKey>>,
    config: Arc<rustls::ServerConfig>,
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
        let key = read_certified_key(&files, &provider)?;
        let current = Arc::new(ArcSwap::from_pointee(key));
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS provider offers no safe protocol version")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Current(current.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Resumption without a server-side session store.
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .context("could not make a TLS session ticketer")?;
        Ok(Arc::new(ServerTls {
            files,
            provider,
            current,
            config: Arc::new(config),
        }))
    }

    /// Reads the files again: connections from now on get what they hold;
    /// those already open keep theirs. On error nothing changes.
    pub fn reload(&self) -> Result<()> {
        let key = read_certified_key(&self.files, &self.provider)?;
        self.current.store(Arc::new(key));
        Ok(())
    }

    /// The files it reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// What accepts one connection: the handshake, then the TLS stream.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// Hands every handshake the certificate loaded last.
#[derive(Debug)]
struct Current(Arc<ArcSwap<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The chain and key of `files`, checked to belong together.
fn read_certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let chain = read_chain(&files.cert)?;
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

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| anyhow!("TLS certificate file `{}`: {err}", path.display()))?;
    if chain.is_empty() {
        bail!(
            "TLS certificate file `{}` holds no certificate (a PEM `BEGIN CERTIFICATE` block)",
            path.display()
        );
    }
    Ok(chain)
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
        TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
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
}
