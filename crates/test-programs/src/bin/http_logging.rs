//! Logs through `wasi:logging/logging@0.1.0-draft` (raw wit-bindgen bindings
//! of the vendored `wit/deps/wasi-logging@0.1.0-draft`), the way wasmCloud
//! components log.
//!
//! `?text=T[&context=C][&levels=trace,debug,…]` logs `T at LEVEL` once at
//! each level listed (all six by default, from `trace` to `critical`), with
//! context `C` (empty by default), then answers `200` `logged N`. An unknown
//! level answers `400`.

use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:logging/imports",
        path: "../../wit/deps/wasi-logging@0.1.0-draft",
        generate_all,
    });
}

use bindings::wasi::logging::logging::{Level, log};

const ALL: &str = "trace,debug,info,warn,error,critical";

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let text = query_param(&path, "text").unwrap_or_default();
        let context = query_param(&path, "context").unwrap_or_default();
        let levels = query_param(&path, "levels").unwrap_or_else(|| ALL.to_string());
        let mut parsed = Vec::new();
        for name in levels.split(',') {
            let level = match name {
                "trace" => Level::Trace,
                "debug" => Level::Debug,
                "info" => Level::Info,
                "warn" => Level::Warn,
                "error" => Level::Error,
                "critical" => Level::Critical,
                other => {
                    respond_text(out, 400, &format!("unknown level `{other}`\n"));
                    return;
                }
            };
            parsed.push((name, level));
        }
        for (name, level) in &parsed {
            log(*level, &context, &format!("{text} at {name}"));
        }
        respond_text(out, 200, &format!("logged {}\n", parsed.len()));
    }
}

fn main() {}
