//! Reads its component's variables through `wasi:config/store@0.2.0-rc.1`
//! (raw wit-bindgen bindings of the vendored `wit/deps/wasi-config@0.2.0-rc.1`):
//!
//! - `?name=foo` answers `200` with the value, `404 none` when there is none, or
//!   `200 error: <variant>: <message>` (`upstream`, `io`);
//! - `?all=1` answers `200` with `name=value` lines from `get-all`, in the order
//!   returned, or `200 error: …`.
//!
//! Anything else gets `400`.

use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:vars-wasi;
            world guest {
                import wasi:config/store@0.2.0-rc.1;
            }
        ",
        path: "../../wit/deps/wasi-config@0.2.0-rc.1",
        generate_all,
    });
}

use bindings::wasi::config::store::{self, Error};

fn describe(error: &Error) -> String {
    match error {
        Error::Upstream(m) => format!("error: upstream: {m}"),
        Error::Io(m) => format!("error: io: {m}"),
    }
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if let Some(name) = query_param(&path, "name") {
            match store::get(&name) {
                Ok(Some(value)) => respond_text(out, 200, &value),
                Ok(None) => respond_text(out, 404, "none"),
                Err(e) => respond_text(out, 200, &describe(&e)),
            }
        } else if query_param(&path, "all").is_some() {
            match store::get_all() {
                Ok(pairs) => {
                    let body: String = pairs
                        .iter()
                        .map(|(name, value)| format!("{name}={value}\n"))
                        .collect();
                    respond_text(out, 200, &body);
                }
                Err(e) => respond_text(out, 200, &describe(&e)),
            }
        } else {
            respond_text(out, 400, "expected ?name=<variable> or ?all=1");
        }
    }
}

fn main() {}
