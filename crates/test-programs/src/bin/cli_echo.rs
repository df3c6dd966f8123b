//! Prints its arguments (`arg[i]=VALUE`, argv[0] included) and its
//! environment (`env:KEY=VALUE`, sorted), one per line, and `stderr-line` to
//! stderr.

use std::io::Write as _;

fn main() {
    let mut stdout = std::io::stdout().lock();
    for (i, arg) in std::env::args().enumerate() {
        writeln!(stdout, "arg[{i}]={arg}").unwrap();
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    for (key, value) in vars {
        writeln!(stdout, "env:{key}={value}").unwrap();
    }
    stdout.flush().unwrap();
    eprintln!("stderr-line");
}
