//! Answers every request with a JSON description of it:
//! `{"method","path_with_query","scheme","authority","headers":[[name,value]…],
//! "body","env":{…},"served"}` (body and header values decoded as lossy UTF-8,
//! env sorted; `served` counts the requests this instance has handled, this one
//! included). Also prints `http_echo: METHOD PATH` to stdout and `http_echo
//! stderr` to stderr.

use std::sync::atomic::{AtomicU32, Ordering};

use test_programs::http::{method_name, read_body, respond, scheme_name};
use test_programs::{push_json_opt_string, push_json_string};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

static SERVED: AtomicU32 = AtomicU32::new(0);

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = method_name(&request.method());
        let path_with_query = request.path_with_query();
        let scheme = request.scheme().map(|s| scheme_name(&s));
        let authority = request.authority();
        let headers = request.headers().entries();
        let body = read_body(&request);

        println!(
            "http_echo: {method} {}",
            path_with_query.as_deref().unwrap_or("")
        );
        eprintln!("http_echo stderr");

        let mut json = String::from("{\"method\":");
        push_json_string(&mut json, &method);
        json.push_str(",\"path_with_query\":");
        push_json_opt_string(&mut json, path_with_query.as_deref());
        json.push_str(",\"scheme\":");
        push_json_opt_string(&mut json, scheme.as_deref());
        json.push_str(",\"authority\":");
        push_json_opt_string(&mut json, authority.as_deref());
        json.push_str(",\"headers\":[");
        for (i, (name, value)) in headers.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push('[');
            push_json_string(&mut json, name);
            json.push(',');
            push_json_string(&mut json, &String::from_utf8_lossy(value));
            json.push(']');
        }
        json.push_str("],\"body\":");
        push_json_string(&mut json, &String::from_utf8_lossy(&body));
        json.push_str(",\"env\":{");
        let mut vars: Vec<(String, String)> = std::env::vars().collect();
        vars.sort();
        for (i, (key, value)) in vars.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            push_json_string(&mut json, key);
            json.push(':');
            push_json_string(&mut json, value);
        }
        // Requests this instance has handled, this one included: 1 in a
        // fresh instance.
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        json.push_str(&format!("}},\"served\":{served}}}"));

        respond(out, 200, "application/json", json.as_bytes());
    }
}

fn main() {}
