//! An HTTP component that imports `skiff-test:greeter/greet@0.1.0` (WIT in
//! `crates/test-programs/wit/greeter.wit`), for a component dependency to
//! satisfy:
//! - `?name=N` → `200` with `greet(N)`;
//! - `?probe=URL` → `200` with `probe(URL)` (what the dependency reaches);
//! - `?own` → `200` with the component's own `GREETING=…` (or `GREETING=none`).

mod bindings {
    wit_bindgen::generate!({
        path: "wit/greeter.wit",
        world: "skiff-test:greeter/app",
        generate_all,
    });
}

use bindings::skiff_test::greeter::greet;
use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if let Some(url) = query_param(&path, "probe") {
            return respond_text(out, 200, &greet::probe(&url));
        }
        if query_param(&path, "own").is_some() {
            let env = std::env::var("GREETING").unwrap_or_else(|_| "none".into());
            return respond_text(out, 200, &format!("GREETING={env}\n"));
        }
        let name = query_param(&path, "name").unwrap_or_else(|| "world".into());
        respond_text(out, 200, &format!("{}\n", greet::greet(&name)));
    }
}

fn main() {}
