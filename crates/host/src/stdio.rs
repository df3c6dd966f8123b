//! Guest stdout/stderr routed to the host log, one line at a time, prefixed with the component id.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest partial line kept before it is written out anyway.
const MAX_LINE: usize = 16 * 1024;

/// Which guest stream a [`LogStream`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// A guest output stream written to the host's stderr as `[component stdout] line`.
#[derive(Debug, Clone)]
pub struct LogStream {
    prefix: Arc<str>,
    component: Arc<str>,
    stream: skiff_telemetry::logs::Stream,
}

impl LogStream {
    /// A stream for `component`'s `channel`.
    pub fn new(component: &str, channel: Channel) -> Self {
        let (name, stream) = match channel {
            Channel::Stdout => ("stdout", skiff_telemetry::logs::Stream::Stdout),
            Channel::Stderr => ("stderr", skiff_telemetry::logs::Stream::Stderr),
        };
        LogStream {
            prefix: format!("[{component} {name}] ").into(),
            component: component.into(),
            stream,
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter::new(self))
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter::new(self))
    }
}

/// Buffers a partial line; writes each complete line with the prefix (and
/// exports it as a log record when OTLP logs are on).
struct LineWriter {
    stream: LogStream,
    pending: Vec<u8>,
}

impl LineWriter {
    fn new(stream: &LogStream) -> Self {
        LineWriter {
            stream: stream.clone(),
            pending: Vec::new(),
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            self.pending.extend_from_slice(&bytes[..pos]);
            self.emit();
            bytes = &bytes[pos + 1..];
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_LINE {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = line.trim_end_matches('\r');
        let mut err = std::io::stderr().lock();
        // Written in a traced request (or message): stamped with its trace,
        // as the host's own log lines are.
        let prefix = &self.stream.prefix;
        let _ = match skiff_telemetry::current_ids() {
            None => writeln!(err, "{prefix}{line}"),
            Some((trace_id, span_id)) => {
                writeln!(err, "{prefix}{line} trace_id={trace_id} span_id={span_id}")
            }
        };
        drop(err);
        if skiff_telemetry::logs::enabled() {
            skiff_telemetry::logs::guest_output(&self.stream.component, self.stream.stream, line);
        }
        self.pending.clear();
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
