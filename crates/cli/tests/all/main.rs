//! Integration tests of the `skiff` binary: the real executable, driven as a
//! user would, with real guest components from `crates/test-programs`.
//!
//! - `run`: `skiff run` — commands, grants (env, dirs), traps and limits;
//! - `http`: `skiff up` — routing, the request a guest sees, limits, file
//!   grants, guest logs and isolation between components;
//! - `manifest`: how `skiff up` reports manifest errors;
//! - `cache`: the AOT cache across restarts, corruption and `skiff compile`;
//! - `shutdown`: graceful shutdown on SIGTERM/SIGINT.
//!
//! Every process gets its own temporary `SKIFF_CACHE_DIR` and listens on port 0.

mod cache;
mod harness;
mod http;
mod manifest;
mod run;
mod shutdown;

/// Every guest of `crates/test-programs` has a host test named after it
/// (`run::cli_*`, `http::http_*`): a new guest without one fails to compile.
mod guest_coverage {
    macro_rules! cli_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::run::$guest as _;
        };
    }
    test_programs_artifacts::foreach_cli!(cli_guest_has_a_test);

    macro_rules! http_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::http::$guest as _;
        };
    }
    test_programs_artifacts::foreach_http!(http_guest_has_a_test);
}
