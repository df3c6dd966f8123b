//! TLS for PostgreSQL connections: tokio-postgres's `TlsConnect` over rustls.
//!
//! The stream is opened by Skiff (to the address the grant allowed) and then
//! secured here for the host's *name*, so the server's certificate is
//! verified for the name the address gave, not for the address it resolved to.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

/// Secures a connection to `server` with `config`.
pub(crate) struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    server: ServerName<'static>,
}

impl RustlsConnect {
    /// For the host `host` (a name or an IP address), as the address named it.
    pub(crate) fn new(config: Arc<rustls::ClientConfig>, host: &str) -> Result<Self, String> {
        let server = ServerName::try_from(host.to_string())
            .map_err(|err| format!("`{host}` cannot be verified by TLS: {err}"))?;
        Ok(RustlsConnect { config, server })
    }
}

impl TlsConnect<TcpStream> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: TcpStream) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            let stream = connector.connect(self.server, stream).await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A connection secured by [`RustlsConnect`].
pub(crate) struct RustlsStream(Box<tokio_rustls::client::TlsStream<TcpStream>>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    /// None: SCRAM authentication without channel binding (`SCRAM-SHA-256`,
    /// not `-PLUS`), which servers accept unless a client demands binding.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
