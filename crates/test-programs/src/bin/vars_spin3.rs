//! Reads its component's variables through `spin:variables/variables@3.0.0` (raw
//! wit-bindgen bindings of the vendored `wit/deps/spin-variables@3.0.0`).
//!
//! The WIT declares `get` as an `async func`, and the component model forbids a
//! synchronous task (this p2 `handle` export) from blocking on one: a sync-lowered call
//! traps with "cannot block a synchronous task before returning". So, like the p3
//! guests this interface is made for, the guest lowers it with the async ABI and
//! drives it with `wit_bindgen::block_on`, which never has to wait because Skiff's
//! host answers on the first poll.
//!
//! `?name=foo` answers `200` with the value, or `200 error: <variant>: <message>`
//! with the interface's variant (`invalid-name`, `undefined`, `provider`, `other`).
//! Anything else gets `400`.

use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:vars-spin3;
            world guest {
                import spin:variables/variables@3.0.0;
            }
        ",
        path: "../../wit/deps/spin-variables@3.0.0",
        generate_all,
        async: true,
    });
}

use bindings::spin::variables::variables::{self, Error};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(name) = query_param(&path, "name") else {
            return respond_text(out, 400, "expected ?name=<variable>");
        };
        let body = match wit_bindgen::block_on(variables::get(name)) {
            Ok(value) => value,
            Err(Error::InvalidName(m)) => format!("error: invalid-name: {m}"),
            Err(Error::Undefined(m)) => format!("error: undefined: {m}"),
            Err(Error::Provider(m)) => format!("error: provider: {m}"),
            Err(Error::Other(m)) => format!("error: other: {m}"),
        };
        respond_text(out, 200, &body);
    }
}

fn main() {}
