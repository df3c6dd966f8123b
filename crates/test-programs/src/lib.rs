//! Helpers shared by Skiff's test guests.
//!
//! Every guest is a bin in `src/bin/<suite>_<name>.rs`; this library holds the
//! small pieces several of them need: a hand-written JSON string writer,
//! query-string parsing, the `error: {kind:?}: {err}` format used to report
//! I/O errors, and the busy-loop / memory-hog bodies used by the limit tests.
//! The [`http`] module (only on `wasm32-wasip2`) wraps the `wasi:http` calls
//! every HTTP guest makes.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod http;

/// Appends `s` to `out` as a JSON string literal, quotes included.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `s` as a JSON string, or `null` when it is `None`.
pub fn push_json_opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_string(out, s),
        None => out.push_str("null"),
    }
}

/// The message every guest prints for a failed I/O operation:
/// `error: {kind:?}: {err}`, so host tests can match on the error kind.
pub fn io_error_message(err: &io::Error) -> String {
    format!("error: {:?}: {err}", err.kind())
}

/// The value of query parameter `key` in `path_with_query` (for example
/// `/x?ms=10`), percent-decoded, or `None` when absent.
pub fn query_param(path_with_query: &str, key: &str) -> Option<String> {
    let (_, query) = path_with_query.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes are kept as-is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex_pair(bytes[i + 1], bytes[i + 2]) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

/// The names of the entries of `dir`, sorted.
pub fn sorted_dir_names(dir: impl AsRef<Path>) -> io::Result<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Spins forever without doing anything observable; only an epoch deadline,
/// fuel limit or timeout on the host can stop it.
pub fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks forever, writing to every page of each and keeping
/// them all alive, until the host's memory limit stops the guest.
pub fn exhaust_memory() -> ! {
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for byte in chunk.iter_mut().step_by(4096) {
            *byte = 1;
        }
        chunks.push(std::hint::black_box(chunk));
        std::hint::black_box(&chunks);
    }
}
