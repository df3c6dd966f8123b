//! Skiff's cron trigger: runs a component at the times a cron expression
//! names, compatible with Spin's cron trigger plugin (fermyon/spin-trigger-cron).
//!
//! For each `[[trigger.cron]]` of an app (`cron_expression`, `component`),
//! [`CronTrigger::run`] sleeps until the schedule's next time and hands it to
//! a **fresh instance** of the component through the root-level export
//! `handle-cron-event: func(metadata: metadata) -> result<_, error>` of
//! `fermyon:spin-cron/spin-cron@2.0.0` (vendored in
//! `wit/deps/spin-cron@2.0.0`), `metadata.timestamp` being the time the run
//! was scheduled for, in seconds since the Unix epoch. The guest may import
//! `fermyon:spin-cron/cron-types@2.0.0` (types only) and whatever else the
//! app's other triggers give it: the same linker and grants.
//!
//! Expressions are read by [`skiff_manifest::cron`]: 6 fields with seconds
//! (Spin's form), 7 with a year, 5 (a crontab line, at second 0) or a
//! shorthand (`@daily` …). Times are **UTC**.
//!
//! Semantics:
//! - a run does not wait for the one before it: runs of a schedule overlap,
//!   bounded by the component's `max_concurrency`; a time that comes while
//!   every one of those slots is busy is **skipped** with a warning, not
//!   queued;
//! - times missed while the host was suspended or its clock jumped forward
//!   are not made up: a time noticed more than [`LATE_LIMIT`] late is
//!   skipped with a warning and the next one is counted from now (of several
//!   times due at once, only the latest runs). A clock set back holds the
//!   schedule until it reaches the next time not yet run, so timestamps only
//!   ever increase;
//! - a handler that returns `error::other(…)`, traps, runs out of memory or
//!   passes the component's `timeout` is logged with the component id, the
//!   expression and the time; the next time runs as usual;
//! - a new version of the app (`skiff up --watch`) takes over each schedule
//!   it shares with the old one ([`Running::hand_over`]), so a reload
//!   neither skips nor repeats a time.
//!
//! ```no_run
//! # async fn example(
//! #     engine: std::sync::Arc<skiff_engine::SkiffEngine>,
//! #     app: skiff_manifest::App,
//! #     options: skiff_trigger_http::LoadOptions,
//! # ) -> anyhow::Result<()> {
//! let trigger = skiff_trigger_cron::CronTrigger::load(engine, &app, &options)?;
//! for s in trigger.schedules() {
//!     println!("`{}` -> {} (next {:?})", s.expression, s.component, s.next);
//! }
//! trigger
//!     .run(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use skiff_engine::SkiffEngine;
use skiff_host::HostState;
use skiff_manifest::cron::{Schedule, format_utc};
use skiff_manifest::{App, ManifestKind};
use skiff_trigger_http::LoadOptions;
use skiff_trigger_http::trigger::{self, Handover, TriggerComponent, drain, stopped};
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::task::JoinSet;

use crate::bindings::fermyon::spin_cron::cron_types;

/// How late a time may be noticed and still run; a later one was missed
/// (the host was suspended, or its clock jumped forward) and is skipped.
pub const LATE_LIMIT: Duration = Duration::from_secs(2);

/// The longest the scheduler sleeps before it reads the wall clock again,
/// so a suspension or a clock change is noticed within this long.
const CLOCK_CHECK: Duration = Duration::from_secs(1);

/// One loaded component, ready to instantiate per run.
struct CronComponent {
    component: TriggerComponent,
    pre: bindings::SpinCronPre<HostState>,
}

/// One schedule, feeding one component.
struct Entry {
    schedule: Schedule,
    component: usize,
}

/// One schedule, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// The cron expression, templates expanded.
    pub expression: String,
    /// The component id.
    pub component: String,
    /// The next time it runs, in seconds since the Unix epoch (UTC);
    /// `None` when it never runs again (its last year has passed).
    pub next: Option<u64>,
}

/// An app's cron triggers, loaded and ready to run.
pub struct CronTrigger {
    /// `None` for an app without cron triggers.
    engine: Option<Arc<SkiffEngine>>,
    components: Vec<Arc<CronComponent>>,
    entries: Vec<Entry>,
}

impl CronTrigger {
    /// Compiles, links and pre-instantiates every component an app's
    /// `[[trigger.cron]]` entries name, and reads their expressions
    /// (`{{ variable }}` templates come from the app's variables). Fails
    /// naming the component that does not export `handle-cron-event` (or
    /// whose imports do not fit), or the expression that is not valid once
    /// expanded. An app without cron triggers loads as an empty trigger
    /// ([`CronTrigger::is_empty`]).
    pub fn load(engine: Arc<SkiffEngine>, app: &App, options: &LoadOptions) -> Result<Self> {
        let mut trigger = CronTrigger {
            engine: None,
            components: Vec::new(),
            entries: Vec::new(),
        };
        if app.cron_triggers.is_empty() {
            return Ok(trigger);
        }
        let mut linker = skiff_host::component_linker(engine.engine())?;
        // The types-only interface a guest may import: nothing to define in it.
        linker
            .instance(bindings::CRON_TYPES)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("could not add `{}` to the linker", bindings::CRON_TYPES))?;
        let mut index: HashMap<&str, usize> = HashMap::new();
        for t in &app.cron_triggers {
            let component = match index.get(t.component.as_str()) {
                Some(&i) => i,
                None => {
                    let (component, pre) = TriggerComponent::load(
                        &engine,
                        &linker,
                        app,
                        options,
                        (&t.component, t.line),
                        ("cron", "cron events"),
                    )?;
                    let pre = bindings::SpinCronPre::new(pre)
                        .map_err(anyhow::Error::from)
                        .with_context(|| {
                            format!(
                                "component `{}` cannot handle cron events: it must export the \
                             function `handle-cron-event: func(metadata: metadata) -> result<_, \
                             error>` of Spin's cron trigger (world \
                             `fermyon:spin-cron/spin-cron@2.0.0`)",
                                component.id
                            )
                        })?;
                    tracing::info!("component `{}` loaded for the cron trigger", component.id);
                    trigger
                        .components
                        .push(Arc::new(CronComponent { component, pre }));
                    index.insert(&t.component, trigger.components.len() - 1);
                    trigger.components.len() - 1
                }
            };
            let expression = trigger::expand(
                options,
                &t.expression,
                "cron expression of the cron trigger",
                t.line,
            )?;
            let schedule = Schedule::parse(&expression).with_context(|| {
                format!(
                    "invalid cron expression of the cron trigger on line {}",
                    t.line
                )
            })?;
            if app.kind == ManifestKind::Spin && schedule.numbered_weekdays() {
                tracing::warn!(
                    "the cron trigger on line {} counts days of the week by number in `{}`: \
                     Skiff reads them as crontab does (0 and 7 = Sunday, 1 = Monday), Spin's \
                     cron trigger plugin as 1 = Sunday … 7 = Saturday; names (`MON-FRI`) mean \
                     the same day on both",
                    t.line,
                    schedule.expression()
                );
            }
            trigger.entries.push(Entry {
                schedule,
                component,
            });
        }
        trigger.engine = Some(engine);
        Ok(trigger)
    }

    /// Whether the app has no cron triggers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every schedule, in manifest order, with its next time from now.
    pub fn schedules(&self) -> Vec<CronSchedule> {
        let now = now().as_secs();
        self.entries
            .iter()
            .map(|e| CronSchedule {
                expression: e.schedule.expression().to_string(),
                component: self.components[e.component].component.id.to_string(),
                next: e.schedule.next_after(now),
            })
            .collect()
    }

    /// Runs every schedule until `shutdown` resolves; then waits (at most
    /// 10 s) for the runs still going.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let running = self.start();
        shutdown.await;
        running.finish().await;
    }

    /// Runs every schedule on the current tokio runtime until the
    /// [`Running`] returned is stopped.
    pub fn start(self) -> Running {
        Running::default().hand_over(self)
    }
}

/// What a schedule runs: one version of the app's component.
struct Target {
    engine: Arc<SkiffEngine>,
    component: Arc<CronComponent>,
}

/// Started cron triggers: a scheduler per schedule, known by its
/// expression and component id.
#[derive(Default)]
pub struct Running(Handover<(String, Arc<str>), Target>);

impl Running {
    /// Hands the schedules to `next`, a new version of the app: a schedule
    /// both versions have (same expression and component id) keeps its
    /// scheduler, whose next time runs the new version's component, so a
    /// reload neither skips nor repeats a time. A schedule only `next` has
    /// starts; one only the old version had stops (its runs in progress
    /// finish).
    pub fn hand_over(self, next: CronTrigger) -> Running {
        let schedules: Vec<_> = match next.engine {
            Some(engine) => next
                .entries
                .into_iter()
                .map(|entry| {
                    let component = next.components[entry.component].clone();
                    let key = (
                        entry.schedule.expression().to_string(),
                        component.component.id.clone(),
                    );
                    let target = Arc::new(Target {
                        engine: engine.clone(),
                        component,
                    });
                    (key, target, entry.schedule)
                })
                .collect(),
            None => Vec::new(),
        };
        Running(self.0.hand_over(schedules, schedule_loop))
    }

    /// Tells every scheduler to stop (runs in progress finish).
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Stops the schedulers and waits (at most 10 s each) for the runs
    /// still going.
    pub async fn finish(self) {
        self.0.finish("cron trigger").await;
    }
}

/// The wall clock, as time since the Unix epoch (zero before it).
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `Some(t)` formatted, or `never`.
fn describe(time: Option<u64>) -> String {
    time.map_or_else(|| "never".to_string(), format_utc)
}

/// Resolves once the wall clock reaches `due` (Unix seconds), reading it
/// again at least every [`CLOCK_CHECK`]: tokio's timers follow a monotonic
/// clock, which neither a clock change nor (on Linux) a suspension moves.
async fn wait_until(due: u64) {
    let due = Duration::from_secs(due);
    loop {
        let now = now();
        if now >= due {
            return;
        }
        tokio::time::sleep((due - now).min(CLOCK_CHECK)).await;
    }
}

/// What to do once the wall clock (`now`, since the Unix epoch) has
/// reached a schedule's time `due`.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Run `time`: `due`, or the latest time due by now when several are
    /// (those before it are skipped).
    Run { time: u64 },
    /// `due` was noticed `late` by more than [`LATE_LIMIT`]: skip it and go
    /// on with `next`, the first time after now.
    Missed { late: Duration, next: Option<u64> },
}

fn step(schedule: &Schedule, due: u64, now: Duration) -> Step {
    let late = now.saturating_sub(Duration::from_secs(due));
    if late > LATE_LIMIT {
        return Step::Missed {
            late,
            next: schedule.next_after(now.as_secs()),
        };
    }
    let mut time = due;
    while let Some(t) = schedule.next_after(time)
        && t <= now.as_secs()
    {
        time = t;
    }
    Step::Run { time }
}

/// Runs `schedule` for the component `target` holds at each time (a new
/// version of the app replaces it) until `stop` turns true, then waits for
/// its runs still going.
async fn schedule_loop(
    schedule: Schedule,
    target: watch::Receiver<Arc<Target>>,
    mut stop: watch::Receiver<bool>,
) {
    let expression = schedule.expression().to_string();
    // Every version has the same component id (see `Running::hand_over`).
    let id = target.borrow().component.component.id.clone();
    let mut runs = JoinSet::new();
    let mut next = schedule.next_after(now().as_secs());
    tracing::info!(
        "cron trigger: `{expression}` runs component `{id}`; next run {}",
        describe(next)
    );
    loop {
        let Some(due) = next else {
            tracing::warn!(
                "cron trigger: `{expression}` (component `{id}`) has no time left to run at; it \
                 stops"
            );
            break;
        };
        tokio::select! {
            () = wait_until(due) => {}
            // Reap finished runs so the set does not grow.
            Some(_) = runs.join_next(), if !runs.is_empty() => continue,
            () = stopped(&mut stop) => break,
        }
        let time = match step(&schedule, due, now()) {
            Step::Missed { late, next: after } => {
                next = after;
                tracing::warn!(
                    "cron trigger: skipped the {} run of `{expression}` (component `{id}`), \
                     noticed {late:.1?} late: the host was suspended or its clock jumped; next \
                     run {}",
                    format_utc(due),
                    describe(next)
                );
                continue;
            }
            Step::Run { time } => time,
        };
        if time != due {
            tracing::warn!(
                "cron trigger: skipped the runs of `{expression}` (component `{id}`) due from {} \
                 to before {}, which were late",
                format_utc(due),
                format_utc(time)
            );
        }
        let Target { engine, component } = &**target.borrow();
        match component.component.try_permit() {
            Ok(permit) => {
                runs.spawn(run_once(
                    engine.clone(),
                    component.clone(),
                    permit,
                    time,
                    expression.clone(),
                ));
            }
            Err(_) => tracing::warn!(
                component = %id,
                "cron trigger: skipped the {} run of `{expression}`: every instance component \
                 `{id}` may run at once (its `max_concurrency`) is still busy with an earlier run",
                format_utc(time)
            ),
        }
        next = schedule.next_after(time);
    }
    drain(runs, "cron trigger").await;
}

/// Runs the `timestamp` time of `expression` on a fresh instance of
/// `component`, holding `permit`; every failure is logged with the
/// component id, the expression and the time.
async fn run_once(
    engine: Arc<SkiffEngine>,
    component: Arc<CronComponent>,
    permit: Option<OwnedSemaphorePermit>,
    timestamp: u64,
    expression: String,
) {
    let event = format!(
        "the {} run of cron schedule `{expression}`",
        format_utc(timestamp)
    );
    let span = skiff_telemetry::event::cron_span(&expression, timestamp, &component.component.id);
    let pre = &component.pre;
    component
        .component
        .run_permitted(permit, &engine, &event, span, move |mut store| async move {
            let instance = pre.instantiate_async(&mut store).await?;
            let metadata = cron_types::Metadata { timestamp };
            Ok(instance
                .call_handle_cron_event(&mut store, metadata)
                .await?
                .map_err(|cron_types::Error::Other(message)| message))
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> Duration {
        Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn a_time_noticed_on_time_runs() {
        let every_second: Schedule = "* * * * * *".parse().unwrap();
        assert_eq!(
            step(&every_second, 1_000, at(1_000, 3)),
            Step::Run { time: 1_000 }
        );
        assert_eq!(
            step(&every_second, 1_000, at(1_000, 999)),
            Step::Run { time: 1_000 }
        );
    }

    #[test]
    fn of_several_due_times_only_the_latest_runs() {
        let every_second: Schedule = "* * * * * *".parse().unwrap();
        assert_eq!(
            step(&every_second, 1_000, at(1_001, 500)),
            Step::Run { time: 1_001 }
        );
        assert_eq!(
            step(&every_second, 1_000, at(1_002, 0)),
            Step::Run { time: 1_002 }
        );
        // A sparse schedule a little late still runs its time.
        let hourly: Schedule = "@hourly".parse().unwrap();
        assert_eq!(
            step(&hourly, 3_600, at(3_601, 900)),
            Step::Run { time: 3_600 }
        );
    }

    #[test]
    fn a_time_noticed_too_late_is_skipped_and_the_next_counted_from_now() {
        let every_two: Schedule = "*/2 * * * * *".parse().unwrap();
        assert_eq!(
            step(&every_two, 1_000, at(1_007, 100)),
            Step::Missed {
                late: at(7, 100),
                next: Some(1_008)
            }
        );
        let hourly: Schedule = "@hourly".parse().unwrap();
        assert_eq!(
            step(&hourly, 3_600, at(3_603, 0)),
            Step::Missed {
                late: at(3, 0),
                next: Some(7_200)
            }
        );
        let once: Schedule = "0 0 0 1 1 * 1971".parse().unwrap();
        assert_eq!(
            step(&once, 31_536_000, at(31_536_100, 0)),
            Step::Missed {
                late: at(100, 0),
                next: None
            }
        );
    }
}
