//! A component dependency (world `skiff-test:greeter/library`, WIT in
//! `crates/test-programs/wit/greeter.wit`): exports `greet` (`Hello, NAME!`),
//! `shout` (`HELLO, NAME!`) and `broken` (a `greet` of another type).
//!
//! `probe(url)` reports, one line each, what the dependency reaches of its
//! component's configuration:
//! - `env: GREETING=VALUE` or `env: none`;
//! - `files: N` (entries of `/`) or `files: error …`;
//! - `kv: opened` (`default`, `fermyon:spin/key-value@2.0.0`) or `kv: error: access-denied`…;
//! - `http: status N` (a `GET` of `url` through `wasi:http/outgoing-handler`)
//!   or `http: error: HttpRequestDenied`….
//!
//! It also logs `probed URL` (context `greeter`) through `wasi:logging`,
//! which a dependency may use whatever it inherits, as it may write to
//! stdout.

mod logging {
    wit_bindgen::generate!({
        world: "wasi:logging/imports",
        path: "../../wit/deps/wasi-logging@0.1.0-draft",
        generate_all,
    });
}

mod bindings {
    wit_bindgen::generate!({
        path: "wit/greeter.wit",
        world: "skiff-test:greeter/library",
        generate_all,
    });
}

use bindings::exports::skiff_test::greeter::{broken, greet, shout};
use test_programs::http::get_status;

struct Greeter;

bindings::export!(Greeter with_types_in bindings);

impl greet::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("Hello, {name}!")
    }

    fn probe(url: String) -> String {
        probe(&url)
    }
}

impl shout::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("HELLO, {}!", name.to_uppercase())
    }

    fn probe(url: String) -> String {
        probe(&url)
    }
}

impl broken::Guest for Greeter {
    fn greet(name: u32) -> String {
        format!("number {name}")
    }

    fn probe(url: String) -> String {
        probe(&url)
    }
}

fn probe(url: &str) -> String {
    use logging::wasi::logging::logging::{Level, log};
    log(Level::Info, "greeter", &format!("probed {url}"));
    let env = match std::env::var("GREETING") {
        Ok(value) => format!("GREETING={value}"),
        Err(_) => "none".into(),
    };
    let files = match std::fs::read_dir("/") {
        Ok(entries) => entries.count().to_string(),
        Err(e) => format!("error {:?}", e.kind()),
    };
    let kv = match spin_sdk::key_value::Store::open_default() {
        Ok(_) => "opened".to_string(),
        Err(spin_sdk::key_value::Error::AccessDenied) => "error: access-denied".into(),
        Err(e) => format!("error: {e:?}"),
    };
    let http = match get_status(url) {
        Ok(status) => format!("status {status}"),
        Err(e) => format!("error: {e}"),
    };
    format!("env: {env}\nfiles: {files}\nkv: {kv}\nhttp: {http}\n")
}

fn main() {}
