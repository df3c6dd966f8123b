//! A cron trigger handler: exports `handle-cron-event` of Spin's cron trigger
//! plugin's world (`fermyon:spin-cron/spin-cron@2.0.0`, vendored in
//! `wit/deps/spin-cron@2.0.0`), as a Spin cron app's component does.
//!
//! Each run first prints `cron tick TIMESTAMP at NOW_MS mode MODE` on stdout
//! (`NOW_MS`: the guest's wall clock, in milliseconds since the Unix epoch),
//! then, by the `CRON_MODE` environment variable:
//! - `fail` → returns `error::other("asked to fail at TIMESTAMP")`;
//! - `trap` → panics with `asked to trap at TIMESTAMP`;
//! - `slow` → sleeps 2.5 s, then succeeds;
//! - anything else (or unset) → succeeds, after sending
//!   `GET REPORT_URL?timestamp=TIMESTAMP` through
//!   `wasi:http/outgoing-handler` when `REPORT_URL` is set (so the
//!   component needs it in `allowed_outbound_hosts`); an answer other than
//!   `200` is returned as `error::other`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/spin-cron@2.0.0",
        world: "fermyon:spin-cron/spin-cron",
        generate_all,
    });
}

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindings::{Error, Guest, Metadata};
use test_programs::http::get_status;

struct Cron;

bindings::export!(Cron with_types_in bindings);

impl Guest for Cron {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let timestamp = metadata.timestamp;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let mode = std::env::var("CRON_MODE").unwrap_or_else(|_| "ok".to_string());
        println!("cron tick {timestamp} at {now_ms} mode {mode}");
        match mode.as_str() {
            "fail" => Err(Error::Other(format!("asked to fail at {timestamp}"))),
            "trap" => panic!("asked to trap at {timestamp}"),
            "slow" => {
                std::thread::sleep(Duration::from_millis(2500));
                Ok(())
            }
            _ => match std::env::var("REPORT_URL") {
                Ok(url) => match get_status(&format!("{url}?timestamp={timestamp}")) {
                    Ok(200) => Ok(()),
                    Ok(status) => Err(Error::Other(format!("the report got status {status}"))),
                    Err(e) => Err(Error::Other(format!("the report failed: {e}"))),
                },
                Err(_) => Ok(()),
            },
        }
    }
}

fn main() {}
