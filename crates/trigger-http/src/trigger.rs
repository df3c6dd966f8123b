//! What the triggers beside HTTP (Redis, messaging, cron, MQTT) share:
//! loading a component they run, handing each event to a fresh instance of
//! it with its limits, logging how that went, stopping on a signal, and
//! handing their long-lived tasks to a new version of the app
//! ([`Handover`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use skiff_engine::{DeadlineExceeded, SkiffEngine};
use skiff_host::{HostState, InstanceConfig};
use skiff_manifest::App;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};
use tokio::task::JoinSet;
use wasmtime::component::{InstancePre, Linker};

use crate::LoadOptions;
use crate::metrics::{EventMetrics, Outcome};

/// How long in-flight handlers may run after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A component an event trigger runs: its grants and limits.
pub struct TriggerComponent {
    /// The component id.
    pub id: Arc<str>,
    /// How its events went (shared with the versions before and after a
    /// reload).
    metrics: Arc<EventMetrics>,
    /// Its grants, shared by its instances.
    pub config: Arc<InstanceConfig>,
    /// Its `timeout`: how long one event may take.
    pub timeout: Duration,
    /// Its `max_concurrency`, as permits.
    concurrency: Option<Arc<Semaphore>>,
}

impl TriggerComponent {
    /// Compiles (or takes from the AOT cache) and links component `id` of
    /// `app`, which the trigger on manifest line `line` names; `trigger` is
    /// the trigger's type (`redis`, for metrics) and `handles` says what it
    /// hands the component, for errors (`redis messages`).
    /// Returns it with its `InstancePre`, for the caller to check the
    /// export it needs.
    pub fn load(
        engine: &SkiffEngine,
        linker: &Linker<HostState>,
        app: &App,
        options: &LoadOptions,
        (id, line): (&str, usize),
        (trigger, handles): (&'static str, &str),
    ) -> Result<(Self, InstancePre<HostState>)> {
        let spec = app.components.get(id).with_context(|| {
            format!(
                "the trigger on line {line} names component `{id}`, which the manifest does not \
                 define"
            )
        })?;
        let loaded = crate::load_component(engine, &spec.id, &spec.source, &spec.dependencies)?;
        let config = crate::instance_config(spec, options)?;
        let pre = skiff_host::linker_for(linker, &loaded.component, config.denied_warnings())?
            .instantiate_pre(&loaded.component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component `{}` cannot handle {handles}: it imports an interface Skiff does \
                     not provide",
                    spec.id
                )
            })?;
        let component = TriggerComponent {
            id: spec.id.as_str().into(),
            metrics: crate::metrics::event_metrics(trigger, &spec.id),
            config: Arc::new(config),
            timeout: spec.limits.timeout,
            concurrency: spec
                .limits
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n as usize))),
        };
        Ok((component, pre))
    }

    /// Waits for a slot under the component's `max_concurrency` (none
    /// without one).
    pub async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        match &self.concurrency {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Takes a slot under the component's `max_concurrency` if one is free
    /// now: `Ok(None)` for a component without a limit, `Err` when every
    /// slot is taken (for a trigger that skips an event rather than queue
    /// it).
    pub fn try_permit(&self) -> Result<Option<OwnedSemaphorePermit>, TryAcquireError> {
        match &self.concurrency {
            Some(sem) => sem.clone().try_acquire_owned().map(Some),
            None => Ok(None),
        }
    }

    /// Runs `handle` on a fresh store of this component, bounded by its
    /// timeout, and logs the outcome naming the component and `place`
    /// (``redis channel `orders` ``): an error the handler returned, a trap,
    /// or the timeout. Later events are not affected either way. Waits
    /// for a slot under the component's `max_concurrency` first. With
    /// traces on, it runs in `span` (its outcome recorded there).
    pub async fn run<F, Fut>(
        &self,
        engine: &SkiffEngine,
        place: &str,
        span: Option<tracing::Span>,
        handle: F,
    ) where
        F: FnOnce(wasmtime::Store<HostState>) -> Fut,
        Fut: Future<Output = Result<Result<(), String>>>,
    {
        let permit = self.permit().await;
        let event = format!("a message on {place}");
        self.run_permitted(permit, engine, &event, span, handle)
            .await;
    }

    /// Like [`run`](Self::run), holding `permit` (from
    /// [`try_permit`](Self::try_permit) or [`permit`](Self::permit)) until
    /// the handler is done; the log names the component and `event` (``the
    /// 12:00:00 UTC run of cron schedule `@hourly` ``).
    pub async fn run_permitted<F, Fut>(
        &self,
        permit: Option<OwnedSemaphorePermit>,
        engine: &SkiffEngine,
        event: &str,
        span: Option<tracing::Span>,
        handle: F,
    ) where
        F: FnOnce(wasmtime::Store<HostState>) -> Fut,
        Fut: Future<Output = Result<Result<(), String>>>,
    {
        let Some(span) = span else {
            self.run_in(permit, engine, event, handle).await;
            return;
        };
        let failure = tracing::Instrument::instrument(
            self.run_in(permit, engine, event, handle),
            span.clone(),
        )
        .await;
        if let Some(failure) = failure {
            skiff_telemetry::event::record_failure(&span, &failure);
        }
    }

    /// [`run_permitted`](Self::run_permitted) without the span; returns
    /// what went wrong, if anything.
    async fn run_in<F, Fut>(
        &self,
        permit: Option<OwnedSemaphorePermit>,
        engine: &SkiffEngine,
        event: &str,
        handle: F,
    ) -> Option<String>
    where
        F: FnOnce(wasmtime::Store<HostState>) -> Fut,
        Fut: Future<Output = Result<Result<(), String>>>,
    {
        let _permit = permit;
        let id = &self.id;
        let timeout = self.timeout;
        let run = async {
            let store = self.config.new_store(engine.engine(), Some(timeout))?;
            handle(store).await
        };
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, run).await;
        let took = started.elapsed();
        let (outcome, failure) = match result {
            Ok(Ok(Ok(()))) => {
                tracing::debug!(component = %id, "handled {event}");
                (Outcome::Ok, None)
            }
            Ok(Ok(Err(error))) => {
                tracing::warn!(
                    component = %id,
                    "component `{id}` returned an error for {event}: {error} (its stderr, above, \
                     may say why)"
                );
                (
                    Outcome::Error,
                    Some(format!("the handler returned an error: {error}")),
                )
            }
            Ok(Err(err)) if err.downcast_ref::<DeadlineExceeded>().is_none() => {
                tracing::error!(
                    component = %id,
                    "component `{id}` failed handling {event}: {err:?}"
                );
                (Outcome::Trap, Some(format!("the handler failed: {err:#}")))
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    component = %id,
                    "component `{id}` exceeded its timeout of {timeout:?} handling {event}"
                );
                (
                    Outcome::Timeout,
                    Some(format!("the handler exceeded its timeout of {timeout:?}")),
                )
            }
        };
        self.metrics.record(outcome, took);
        failure
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Waits for the running handlers, at most [`SHUTDOWN_GRACE`]; `trigger`
/// names the trigger in the log line about those still running.
pub async fn drain(mut handlers: JoinSet<()>, trigger: &str) {
    let all = async { while handlers.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
        tracing::warn!("{trigger}: stopping handlers still running after {SHUTDOWN_GRACE:?}");
    }
}

/// `text` with its `{{ variable }}` templates expanded from the app's
/// variables; errors name `what` (``channel of the redis trigger``) and the
/// manifest line.
pub fn expand(options: &LoadOptions, text: &str, what: &str, line: usize) -> Result<String> {
    let template = skiff_variables::Template::parse(text)
        .map_err(|err| anyhow::anyhow!("invalid {what} on line {line}: {err}"))?;
    let value = template
        .expand(|name| {
            options
                .variables
                .resolve_app_variable(name)?
                .map(skiff_variables::Value::new)
                .ok_or_else(|| skiff_variables::VariablesError::NoValue {
                    name: name.to_string(),
                })
        })
        .with_context(|| format!("could not expand the {what} on line {line}"))?;
    Ok(value.into_exposed())
}

/// One task of [`Handover`]: what it serves, and how to stop it.
struct Fed<T> {
    target: watch::Sender<Arc<T>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// An event trigger's long-lived tasks (a subscription, a connection, a
/// schedule), each known by a key and serving a target (one version of the
/// app's component) that a new version replaces in place: what a reload
/// hands over, so a subscription both versions have is never closed and
/// opened again (no message lost or repeated, no scheduled time skipped or
/// run twice).
///
/// Keys that repeat within one version (the same subscription twice) are
/// told apart by their order.
pub struct Handover<K, T> {
    tasks: std::collections::HashMap<(K, usize), Fed<T>>,
    /// Tasks a later version dropped, finishing their work in progress.
    leaving: Vec<tokio::task::JoinHandle<()>>,
}

impl<K, T> Default for Handover<K, T> {
    fn default() -> Self {
        Handover {
            tasks: std::collections::HashMap::new(),
            leaving: Vec::new(),
        }
    }
}

impl<K, T> Handover<K, T>
where
    K: std::hash::Hash + Eq + Clone,
    T: Send + Sync + 'static,
{
    /// The tasks of the next version, `next` in its order: (key, target,
    /// what `start` needs). A key this one has keeps its task, which gets
    /// the new target; a new key's task is started by `start(what, target,
    /// stop)` on the current tokio runtime; the tasks of keys `next` lacks
    /// are told to stop.
    pub fn hand_over<S, F>(
        mut self,
        next: impl IntoIterator<Item = (K, Arc<T>, S)>,
        mut start: impl FnMut(S, watch::Receiver<Arc<T>>, watch::Receiver<bool>) -> F,
    ) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = std::collections::HashMap::new();
        let mut seen: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
        for (key, target, what) in next {
            let n = seen.entry(key.clone()).or_default();
            let key = (key, *n);
            *n += 1;
            let fed = match self.tasks.remove(&key) {
                Some(fed) => {
                    fed.target.send_replace(target);
                    fed
                }
                None => {
                    let (target, target_rx) = watch::channel(target);
                    let (stop, stop_rx) = watch::channel(false);
                    let task = tokio::spawn(start(what, target_rx, stop_rx));
                    Fed { target, stop, task }
                }
            };
            tasks.insert(key, fed);
        }
        let mut leaving = std::mem::take(&mut self.leaving);
        leaving.retain(|task| !task.is_finished());
        for (_, gone) in self.tasks.drain() {
            let _ = gone.stop.send(true);
            leaving.push(gone.task);
        }
        Handover { tasks, leaving }
    }

    /// Tells every task to stop taking work (work in progress finishes).
    pub fn stop(&self) {
        for fed in self.tasks.values() {
            let _ = fed.stop.send(true);
        }
    }

    /// Stops the tasks and waits for them; `trigger` names them in the log
    /// line of one that failed.
    pub async fn finish(self, trigger: &str) {
        self.stop();
        let tasks = self.tasks.into_values().map(|fed| fed.task);
        for task in tasks.chain(self.leaving) {
            if let Err(err) = task.await {
                tracing::warn!("a {trigger} task failed: {err}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TaskFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

    /// Each task, once stopped, reports its name and the target it had last.
    fn tasks(
        reports: tokio::sync::mpsc::UnboundedSender<(&'static str, u32)>,
        started: Arc<std::sync::atomic::AtomicUsize>,
    ) -> impl FnMut(&'static str, watch::Receiver<Arc<u32>>, watch::Receiver<bool>) -> TaskFuture
    {
        move |name, target, mut stop| {
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reports = reports.clone();
            Box::pin(async move {
                stopped(&mut stop).await;
                let _ = reports.send((name, **target.borrow()));
            })
        }
    }

    #[tokio::test]
    async fn a_key_both_versions_have_keeps_its_task_and_takes_the_new_target() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let version = |items: &[(&'static str, u32)]| {
            items
                .iter()
                .map(|&(key, target)| (key, Arc::new(target), key))
                .collect::<Vec<_>>()
        };
        // `a` twice: two tasks, told apart by order.
        let first = Handover::default().hand_over(
            version(&[("a", 1), ("a", 2), ("b", 3)]),
            tasks(tx.clone(), started.clone()),
        );
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 3);
        let second = first.hand_over(
            version(&[("a", 10), ("c", 20)]),
            tasks(tx.clone(), started.clone()),
        );
        // Only `c` is new; the second `a` and `b` are gone and stop.
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 4);
        let mut gone = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        gone.sort();
        assert_eq!(gone, [("a", 2), ("b", 3)]);
        // The first `a` serves the new target until the end.
        second.finish("test").await;
        let mut last = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        last.sort();
        assert_eq!(last, [("a", 10), ("c", 20)]);
    }
}
