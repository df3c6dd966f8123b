//! Touches the filesystem through the preopened directories:
//!
//! - `cli_fs read PATH` prints the file,
//! - `cli_fs write PATH CONTENT` writes it,
//! - `cli_fs ls DIR` prints the entry names, sorted, one per line.
//!
//! A failed operation prints `error: {kind:?}: {err}` to stderr and exits 1.

use std::io::{self, Write as _};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["read", path] => std::fs::read(path).and_then(|bytes| io::stdout().write_all(&bytes)),
        ["write", path, content] => std::fs::write(path, content),
        ["ls", dir] => test_programs::sorted_dir_names(dir).map(|names| {
            for name in names {
                println!("{name}");
            }
        }),
        _ => {
            eprintln!("usage: cli_fs read PATH | write PATH CONTENT | ls DIR");
            std::process::exit(2);
        }
    };
    if let Err(err) = result {
        eprintln!("{}", test_programs::io_error_message(&err));
        std::process::exit(1);
    }
}
