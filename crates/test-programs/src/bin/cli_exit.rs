//! Exits with the integer given as the first argument (`cli_exit 42`).
//!
//! On `wasm32-wasip2`, `std::process::exit(n)` can only report success or
//! failure (`wasi:cli/exit.exit`, which hosts turn into 0 or 1), so codes
//! 0..=255 go through `wasi:cli/exit.exit-with-code` (WASI 0.2.12) to reach
//! the host unchanged; anything else falls back to `std::process::exit`.

fn main() {
    let code = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse::<i32>().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: cli_exit CODE");
            std::process::exit(2)
        });
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    if let Ok(code) = u8::try_from(code) {
        wasip2::cli::exit::exit_with_code(code);
    }
    std::process::exit(code);
}
