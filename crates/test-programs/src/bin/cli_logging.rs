//! Logs each of its arguments (argv[0] left out) through
//! `wasi:logging/logging@0.1.0-draft` at `info`, with context `cli`, then
//! `done` at `warn` with no context.

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:logging/imports",
        path: "../../wit/deps/wasi-logging@0.1.0-draft",
        generate_all,
    });
}

use bindings::wasi::logging::logging::{Level, log};

fn main() {
    for arg in std::env::args().skip(1) {
        log(Level::Info, "cli", &arg);
    }
    log(Level::Warn, "", "done");
}
