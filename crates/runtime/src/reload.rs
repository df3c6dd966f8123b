//! Live reload of the runtime config, and of the server's TLS certificate
//! (`watch_tls`). Runtime config: a changed backend for a label takes effect for
//! new requests without a restart; a config that fails to parse or connect is
//! rejected with an error while the old one keeps serving.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use skiff_blob::BlobManager;
use skiff_kv::KeyValueManager;
use skiff_messaging::MessagingManager;
use skiff_outbound_networking::{SharedBlockedNetworks, SharedHttpLimits};
use skiff_runtime_config::RuntimeConfig;
use skiff_sqlite::SqliteManager;
use skiff_variables::Resolver;

/// What a runtime-config reload replaces.
#[derive(Clone)]
pub struct Live {
    /// Key-value backends per label.
    pub kv: Arc<KeyValueManager>,
    /// SQLite databases per label.
    pub sqlite: Arc<SqliteManager>,
    /// The app's variables, whose providers a reload replaces.
    pub variables: Arc<VariablesSlot>,
    /// The outbound HTTP limits and TLS client configurations.
    pub outbound_http: Arc<SharedHttpLimits>,
    /// The networks no component may connect to.
    pub blocked_networks: Arc<SharedBlockedNetworks>,
    /// Message brokers per label; the messaging trigger moves its
    /// subscriptions to a label's new broker.
    pub messaging: Arc<MessagingManager>,
    /// Blob stores per label.
    pub blob: Arc<BlobManager>,
}

/// The app's variables resolver. `skiff up --watch` replaces it with the
/// app's (new declarations, same providers); a runtime-config reload replaces
/// its providers. Each holds the lock throughout, so neither loses the other's
/// change.
pub type VariablesSlot = tokio::sync::Mutex<Arc<Resolver>>;

/// How often the file's modification time is checked.
pub(crate) const POLL: Duration = Duration::from_millis(500);
/// How long the file must stay unchanged before it is read.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);

/// The versions of a set of files (modification time and length each),
/// taken before they are read, so a change made while the server starts is
/// still seen as a change by the watcher started after it.
pub struct Seen {
    paths: Vec<PathBuf>,
    stamps: Vec<Option<(SystemTime, u64)>>,
}

impl Seen {
    /// The versions of `paths` now.
    pub fn now(paths: Vec<PathBuf>) -> Self {
        let stamps = paths.iter().map(|p| stamp(p)).collect();
        Seen { paths, stamps }
    }

    fn again(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.paths.iter().map(|p| stamp(p)).collect()
    }
}

/// Watches the runtime config file (and SIGHUP) forever, applying each new
/// version; `seen`: its version when it was read at start.
pub fn watch(seen: Seen, live: Live) -> impl Future<Output = ()> + Send {
    let path = seen.paths[0].clone();
    watch_files(seen, "runtime config", move || {
        let (path, live) = (path.clone(), live.clone());
        async move { apply(&path, &live).await }
    })
}

/// Watches the server's TLS certificate and key files, and its client CA
/// file if it has one (and SIGHUP) forever: each change is loaded for the
/// connections after it; one that fails to load is reported, and the
/// certificate and CAs being served stay. `seen`: their versions when they
/// were read at start.
pub fn watch_tls(
    seen: Seen,
    tls: Arc<skiff_trigger_http::ServerTls>,
) -> impl Future<Output = ()> + Send {
    watch_files(seen, "TLS certificate", move || {
        let tls = tls.clone();
        async move {
            match (tls.reload(), &tls.files().client_ca) {
                (Ok(()), None) => tracing::info!(
                    "TLS certificate `{}` loaded for new connections",
                    tls.files().cert.display()
                ),
                (Ok(()), Some(ca)) => tracing::info!(
                    "TLS certificate `{}` and client CAs `{}` loaded for new connections",
                    tls.files().cert.display(),
                    ca.display()
                ),
                (Err(err), _) => tracing::error!(
                    "TLS certificate not reloaded, still serving the previous one: {err:#}"
                ),
            }
        }
    })
}

/// Calls `apply` on SIGHUP, and once the files of `seen` have changed
/// (modification time or length) and then stayed unchanged for a moment, so a
/// file being written is not read half-way; forever. SIGHUP is caught from
/// the call on (not from the future's first poll: until then it would stop
/// the process). `what` names the files in a warning.
fn watch_files<F, Fut>(seen: Seen, what: &str, mut apply: F) -> impl Future<Output = ()> + Send
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hup) => Some(hup),
        Err(err) => {
            tracing::warn!("cannot listen for SIGHUP ({err}); only file changes reload the {what}");
            None
        }
    };
    async move {
        let mut seen = seen;
        loop {
            let by_signal = tokio::select! {
                _ = async { hup.as_mut().unwrap().recv().await }, if hup.is_some() => true,
                () = tokio::time::sleep(POLL) => false,
            };
            let mut now = seen.again();
            if !by_signal && now == seen.stamps {
                continue;
            }
            // Let a writer finish: an editor that truncates then writes would
            // otherwise expose a half-written (or empty) file.
            loop {
                tokio::time::sleep(SETTLE).await;
                let again = seen.again();
                if again == now {
                    break;
                }
                now = again;
            }
            seen.stamps = now;
            apply().await;
        }
    }
}

/// Applies the file at `path`: everything it names is checked (it parses, its
/// variables providers give every required variable a value, its backends
/// connect) before anything is replaced.
async fn apply(path: &Path, live: &Live) {
    let variables = live.variables.lock().await;
    let config = match RuntimeConfig::load(path) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(
                "runtime config not applied, still serving with the previous one: {err}"
            );
            return;
        }
    };
    let providers = match crate::serve::variables_providers(&config).and_then(|providers| {
        variables.check_providers(&providers)?;
        Ok(providers)
    }) {
        Ok(providers) => providers,
        Err(err) => {
            tracing::error!(
                "runtime config `{}` not applied, still serving with the previous one: {err:#}",
                path.display()
            );
            return;
        }
    };
    // Every capability's new backends are opened before any is put in use,
    // so a config that fails anywhere changes nothing.
    let applied = async {
        let kv = live.kv.prepare(&config.key_value).await?;
        let sqlite = live.sqlite.prepare(&config.sqlite).await?;
        let blob = live.blob.prepare(&config.blob).await?;
        let messaging = live.messaging.prepare(&config.messaging).await?;
        variables.replace_providers(providers)?;
        kv.commit();
        sqlite.commit();
        blob.commit();
        messaging.commit();
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    match applied {
        Ok(()) => {
            live.outbound_http.set(config.outbound_http);
            live.outbound_http.set_tls(config.client_tls);
            live.blocked_networks.set(config.blocked_networks);
            tracing::info!("runtime config `{}` applied", path.display())
        }
        Err(err) => tracing::error!(
            "runtime config `{}` not applied, still serving with the previous one: {}",
            path.display(),
            chain(err.as_ref())
        ),
    }
}

/// What identifies a version of the file: modification time and length.
pub(crate) fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// `error: cause: cause` on one line, for log records.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
