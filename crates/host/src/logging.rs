//! `wasi:logging/logging@0.1.0-draft`: a guest's log messages, each with a
//! level and a context, written to Skiff's log.
//!
//! Every component may log, as every component may write to stdout: no grant
//! is needed. A message becomes a `tracing` event with the target
//! [`GUEST_TARGET`](skiff_telemetry::logs::GUEST_TARGET), so it passes the
//! same filter as Skiff's own lines (`SKIFF_LOG`/`RUST_LOG`; `guest=info` by
//! default, `guest=debug` shows a guest's debug messages) and is stamped with
//! the trace it was written in. Its fields are `component` and `context`
//! (left out when empty); `critical` has no `tracing` level of its own, so it
//! is an `ERROR` with `critical=true`. With OTLP logs on, the event is
//! exported as a log record of scope `skiff.guest` (severity `FATAL` for
//! `critical`).

use skiff_telemetry::logs::GUEST_TARGET;
use tracing::Level;
use wasmtime::component::{HasData, Linker};

use crate::HostState;
use bindings::wasi::logging::logging::{Host, Level as GuestLevel, add_to_linker as add};

mod bindings {
    #![allow(
        missing_docs,
        reason = "generated; the WIT's own docs are all there is"
    )]
    wasmtime::component::bindgen!({
        world: "wasi:logging/imports",
        path: "../../wit/deps/wasi-logging@0.1.0-draft",
    });
}

/// What a guest's `log` call needs: the component it came from.
struct GuestLog<'a> {
    component: &'a str,
}

/// The [`HasData`] marker of the generated `add_to_linker`.
struct Logging;

impl HasData for Logging {
    type Data<'a> = GuestLog<'a>;
}

/// Writes one message as an event at `$level` (a constant, as `tracing`
/// wants), with `critical=true` when `$critical` says so.
macro_rules! guest_event {
    ($level:expr, $component:expr, $context:expr, $message:expr) => {
        tracing::event!(
            target: GUEST_TARGET,
            $level,
            component = %$component,
            context = $context.map(tracing::field::display),
            "{}",
            $message
        )
    };
}

impl Host for GuestLog<'_> {
    fn log(&mut self, level: GuestLevel, context: String, message: String) {
        let component = self.component;
        let context = (!context.is_empty()).then_some(context.as_str());
        match level {
            GuestLevel::Trace => guest_event!(Level::TRACE, component, context, message),
            GuestLevel::Debug => guest_event!(Level::DEBUG, component, context, message),
            GuestLevel::Info => guest_event!(Level::INFO, component, context, message),
            GuestLevel::Warn => guest_event!(Level::WARN, component, context, message),
            GuestLevel::Error => guest_event!(Level::ERROR, component, context, message),
            GuestLevel::Critical => tracing::event!(
                target: GUEST_TARGET,
                Level::ERROR,
                component = %component,
                context = context.map(tracing::field::display),
                critical = true,
                "{message}"
            ),
        }
    }
}

/// Adds `wasi:logging/logging@0.1.0-draft` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    add::<HostState, Logging>(linker, |state| GuestLog {
        component: &state.hooks.config().component_id,
    })?;
    Ok(())
}
