//! Guest stdout/stderr routed to the host log, one line at a time, prefixed with the component id,
//! and to a file per component and stream when asked ([`GuestOutput`]).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use anyhow::Context as _;

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

impl Channel {
    /// `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
        }
    }
}

/// A guest output stream written to the host's stderr as `[component stdout] line`
/// (unless [`GuestOutput`] leaves the component out), and to its log file if
/// it has one.
#[derive(Debug, Clone)]
pub struct LogStream {
    prefix: Arc<str>,
    component: Arc<str>,
    stream: skiff_telemetry::logs::Stream,
    /// Shown on the host's stderr.
    console: bool,
    /// Appended to, a line at a time, as the guest wrote it.
    file: Option<Arc<Mutex<File>>>,
}

impl LogStream {
    /// A stream for `component`'s `channel`, shown on the host's stderr.
    pub fn new(component: &str, channel: Channel) -> Self {
        let stream = match channel {
            Channel::Stdout => skiff_telemetry::logs::Stream::Stdout,
            Channel::Stderr => skiff_telemetry::logs::Stream::Stderr,
        };
        LogStream {
            prefix: format!("[{component} {}] ", channel.name()).into(),
            component: component.into(),
            stream,
            console: true,
            file: None,
        }
    }
}

/// Which components' output the host shows on its stderr (`skiff up
/// --follow` / `--quiet`, as in Spin).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Follow {
    /// Every component's (the default).
    #[default]
    All,
    /// None (`--quiet`).
    None,
    /// Only these components' (`--follow ID`, repeatable).
    Only(BTreeSet<String>),
}

impl Follow {
    /// Whether `component`'s output is shown.
    pub fn shows(&self, component: &str) -> bool {
        match self {
            Follow::All => true,
            Follow::None => false,
            Follow::Only(ids) => ids.contains(component),
        }
    }
}

/// Where an app's guests' stdout and stderr go: the host's stderr for the
/// components [`Follow`] shows, and, with a log directory (`skiff up
/// --log-dir`), the files `ID_stdout.txt` and `ID_stderr.txt` there for
/// every component, as Spin names them. A file is opened once per process
/// (appended to, or emptied first with `truncate`) and shared by the
/// component's instances and by its later versions (`--watch`).
#[derive(Debug, Default)]
pub struct GuestOutput {
    follow: Follow,
    dir: Option<PathBuf>,
    truncate: bool,
    /// The files opened so far, by path.
    files: Mutex<HashMap<PathBuf, Arc<Mutex<File>>>>,
}

impl GuestOutput {
    /// Output shown as `follow` says, and written under `dir` if given
    /// (created if missing); `truncate` empties each file when it is first
    /// opened.
    pub fn new(follow: Follow, dir: Option<PathBuf>, truncate: bool) -> anyhow::Result<Self> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create the log directory `{}` (--log-dir)",
                    dir.display()
                )
            })?;
        }
        Ok(GuestOutput {
            follow,
            dir,
            truncate,
            files: Mutex::default(),
        })
    }

    /// The log directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Component `component`'s stdout and stderr streams.
    pub fn streams(&self, component: &str) -> anyhow::Result<(LogStream, LogStream)> {
        let stream = |channel: Channel| -> anyhow::Result<LogStream> {
            let mut stream = LogStream::new(component, channel);
            stream.console = self.follow.shows(component);
            if let Some(dir) = &self.dir {
                stream.file = Some(self.file(
                    &dir.join(format!("{component}_{}.txt", channel.name())),
                    component,
                )?);
            }
            Ok(stream)
        };
        Ok((stream(Channel::Stdout)?, stream(Channel::Stderr)?))
    }

    fn file(&self, path: &Path, component: &str) -> anyhow::Result<Arc<Mutex<File>>> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = files.get(path) {
            return Ok(file.clone());
        }
        let mut options = std::fs::OpenOptions::new();
        match self.truncate {
            true => options.write(true).create(true).truncate(true),
            false => options.append(true).create(true),
        };
        let file = options.open(path).with_context(|| {
            format!(
                "cannot open `{}` for component `{component}`'s output (--log-dir)",
                path.display()
            )
        })?;
        let file = Arc::new(Mutex::new(file));
        files.insert(path.to_path_buf(), file.clone());
        Ok(file)
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
        if self.stream.console {
            let mut err = std::io::stderr().lock();
            // Written in a traced request (or message): stamped with its
            // trace, as the host's own log lines are.
            let prefix = &self.stream.prefix;
            let _ = match skiff_telemetry::current_ids() {
                None => writeln!(err, "{prefix}{line}"),
                Some((trace_id, span_id)) => {
                    writeln!(err, "{prefix}{line} trace_id={trace_id} span_id={span_id}")
                }
            };
        }
        if let Some(file) = &self.stream.file {
            // One write per line, so lines from concurrent instances do not
            // interleave.
            let mut record = Vec::with_capacity(line.len() + 1);
            record.extend_from_slice(line.as_bytes());
            record.push(b'\n');
            let _ = file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_all(&record);
        }
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
