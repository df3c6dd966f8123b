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
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

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
                Ok(url) => match get(&format!("{url}?timestamp={timestamp}")) {
                    Ok(200) => Ok(()),
                    Ok(status) => Err(Error::Other(format!("the report got status {status}"))),
                    Err(e) => Err(Error::Other(format!("the report failed: {e}"))),
                },
                Err(_) => Ok(()),
            },
        }
    }
}

/// `GET url` (`http://authority/path?query`); returns the status.
fn get(url: &str) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    let response = loop {
        match future.get() {
            Some(result) => {
                break result
                    .map_err(|()| "response taken twice")?
                    .map_err(|e| format!("{e:?}"))?;
            }
            None => future.subscribe().block(),
        }
    };
    Ok(response.status())
}

fn main() {}
