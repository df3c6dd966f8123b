//! Exercises `fermyon:spin/redis@2.0.0` through Spin's Rust SDK
//! (`spin_sdk::redis`, spin-sdk 5.2), one operation per request.
//!
//! `POST /?address=ADDRESS&op=OP&…`, answered `200 text/plain`:
//! - `open` → `ok`
//! - `set&key=K` (body is the value), `publish&channel=C` (body is the
//!   payload) → `ok`
//! - `get&key=K` → `some:<value>` or `none`
//! - `incr&key=K` → the new value
//! - `del&key=K&key=K2…` → how many were deleted
//! - `sadd&key=K&v=A&v=B…`, `srem&key=K&v=A…` → how many were added / removed
//! - `smembers&key=K` → the members, sorted, `,`-separated
//! - `execute&cmd=CMD&arg=i:5&arg=b:text…` → the results, space-separated:
//!   `nil`, `status:S`, `int:N`, `bin:TEXT`
//!
//! An interface error answers `error: <variant>` (`invalid-address`,
//! `too-many-connections`, `type-error`, `other: <message>`); an unknown op
//! gets `400`.

use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use test_programs::sql::query_params;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

fn error_text(err: Error) -> String {
    match err {
        Error::InvalidAddress => "error: invalid-address".into(),
        Error::TooManyConnections => "error: too-many-connections".into(),
        Error::TypeError => "error: type-error".into(),
        Error::Other(m) => format!("error: other: {m}"),
    }
}

fn result_text(result: &RedisResult) -> String {
    match result {
        RedisResult::Nil => "nil".into(),
        RedisResult::Status(s) => format!("status:{s}"),
        RedisResult::Int64(i) => format!("int:{i}"),
        RedisResult::Binary(b) => format!("bin:{}", String::from_utf8_lossy(b)),
    }
}

fn run(path: &str, address: &str, op: &str, body: Vec<u8>) -> Result<Option<String>, Error> {
    let key = query_param(path, "key").unwrap_or_default();
    let conn = Connection::open(address)?;
    Ok(Some(match op {
        "open" => "ok".into(),
        "set" => {
            conn.set(&key, &body)?;
            "ok".into()
        }
        "publish" => {
            let channel = query_param(path, "channel").unwrap_or_default();
            conn.publish(&channel, &body)?;
            "ok".into()
        }
        "get" => match conn.get(&key)? {
            Some(value) => format!("some:{}", String::from_utf8_lossy(&value)),
            None => "none".into(),
        },
        "incr" => conn.incr(&key)?.to_string(),
        "del" => conn.del(&query_params(path, "key"))?.to_string(),
        "sadd" => conn.sadd(&key, &query_params(path, "v"))?.to_string(),
        "srem" => conn.srem(&key, &query_params(path, "v"))?.to_string(),
        "smembers" => {
            let mut members = conn.smembers(&key)?;
            members.sort();
            members.join(",")
        }
        "execute" => {
            let command = query_param(path, "cmd").unwrap_or_default();
            let args: Vec<RedisParameter> = query_params(path, "arg")
                .into_iter()
                .map(|arg| match arg.split_once(':') {
                    Some(("i", n)) => RedisParameter::Int64(n.parse().expect("i:<integer>")),
                    Some((_, text)) => RedisParameter::Binary(text.as_bytes().to_vec()),
                    None => RedisParameter::Binary(arg.into_bytes()),
                })
                .collect();
            let results = conn.execute(&command, &args)?;
            results
                .iter()
                .map(result_text)
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => return Ok(None),
    }))
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (Some(address), Some(op)) = (query_param(&path, "address"), query_param(&path, "op"))
        else {
            return respond_text(out, 400, "expected ?address=<address>&op=<op>");
        };
        let body = read_body(&request);
        match run(&path, &address, &op, body) {
            Ok(Some(text)) => respond_text(out, 200, &text),
            Ok(None) => respond_text(out, 400, &format!("unknown op `{op}`")),
            Err(err) => respond_text(out, 200, &error_text(err)),
        }
    }
}

fn main() {}
