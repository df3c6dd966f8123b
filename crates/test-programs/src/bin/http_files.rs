//! Touches the filesystem through the preopened directories:
//!
//! - `?path=/x` answers `200` with the file's content, or `404 error:
//!   {kind:?}: {err}`;
//! - `?write=/x` creates/overwrites the file with the request body, answering
//!   `200 wrote` or `403 error: {kind:?}: {err}`;
//! - `?ls=/dir` answers the sorted entry names, one per line, or `404 error:
//!   …`.
//!
//! Anything else gets `400`.

use test_programs::http::{read_body, respond, respond_text};
use test_programs::{io_error_message, query_param, sorted_dir_names};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if let Some(file) = query_param(&path, "path") {
            match std::fs::read(&file) {
                Ok(bytes) => respond(out, 200, "application/octet-stream", &bytes),
                Err(err) => respond_text(out, 404, &io_error_message(&err)),
            }
        } else if let Some(file) = query_param(&path, "write") {
            let body = read_body(&request);
            match std::fs::write(&file, body) {
                Ok(()) => respond_text(out, 200, "wrote"),
                Err(err) => respond_text(out, 403, &io_error_message(&err)),
            }
        } else if let Some(dir) = query_param(&path, "ls") {
            match sorted_dir_names(&dir) {
                Ok(names) => {
                    let listing: String = names.iter().map(|n| format!("{n}\n")).collect();
                    respond_text(out, 200, &listing);
                }
                Err(err) => respond_text(out, 404, &io_error_message(&err)),
            }
        } else {
            respond_text(out, 400, "usage: ?path=FILE | ?write=FILE | ?ls=DIR\n");
        }
    }
}

fn main() {}
