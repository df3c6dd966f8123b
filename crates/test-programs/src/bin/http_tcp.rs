//! Opens a TCP connection through `wasi:sockets` (Rust std's `TcpStream`):
//! `?addr=IP:PORT` → connects, writes `ping\n`, reads one line back →
//! `200` `connected: <line>`; a failed connect answers `200`
//! `error: <io::ErrorKind>` (`PermissionDenied` for `access-denied`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(addr) = test_programs::query_param(&path, "addr") else {
            return test_programs::http::respond_text(out, 400, "missing ?addr=\n");
        };
        let text = match talk(&addr) {
            Ok(line) => format!("connected: {line}\n"),
            Err(e) => format!("error: {:?}\n", e.kind()),
        };
        test_programs::http::respond_text(out, 200, &text);
    }
}

fn talk(addr: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"ping\n")?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}

fn main() {}
