//! Paths to Skiff's test guests.
//!
//! The build script of this crate compiles every bin of the standalone
//! `crates/test-programs` crate (`src/bin/<suite>_<name>.rs`) with a nested
//! `cargo build --release`, in its own target directory
//! (`<workspace target dir>/test-programs`), and exposes:
//!
//! - `<NAME>_COMPONENT`: the absolute path of each guest built for
//!   `wasm32-wasip2`, a component (e.g. [`HTTP_ECHO_COMPONENT`]);
//! - `<NAME>_P1_MODULE`: for the guests also built for `wasm32-wasip1`, the
//!   path of the core module (e.g. [`CLI_ECHO_P1_MODULE`]);
//! - `foreach_<suite>!($mac)`: invokes `$mac!(<suite>_<name>);` once per guest
//!   of the suite (`foreach_cli!`, `foreach_http!`).
//!
//! CLI guests export `wasi:cli/run`; HTTP guests export
//! `wasi:http/incoming-handler@0.2.12` (they also carry `wasi:cli/run`, since
//! they are bins).
//!
//! ```
//! let component = std::fs::read(test_programs_artifacts::HTTP_HELLO_COMPONENT).unwrap();
//! assert_eq!(component[..8], *b"\0asm\x0d\0\x01\0"); // a component
//! let module = std::fs::read(test_programs_artifacts::CLI_ECHO_P1_MODULE).unwrap();
//! assert_eq!(module[..8], *b"\0asm\x01\0\0\0"); // a core module
//! ```
//!
//! The macros let a host-side test module prove that each guest has a test,
//! the way wasmtime's `test-programs-artifacts` does: a guest without a
//! matching test function fails to compile.
//!
//! ```text
//! mod http {
//!     macro_rules! assert_test_exists {
//!         ($name:ident) => {
//!             #[expect(unused_imports, reason = "only checks that the test exists")]
//!             use self::$name as _;
//!         };
//!     }
//!     test_programs_artifacts::foreach_http!(assert_test_exists);
//!
//!     #[tokio::test(flavor = "multi_thread")]
//!     async fn http_hello() -> anyhow::Result<()> {
//!         let wasm = std::fs::read(test_programs_artifacts::HTTP_HELLO_COMPONENT)?;
//!         // … serve it and send a request …
//!         Ok(())
//!     }
//!     // … one test per guest …
//! }
//! ```
//!
//! Building needs the `wasm32-wasip1` and `wasm32-wasip2` targets
//! (`rustup target add wasm32-wasip1 wasm32-wasip2`).

#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/test_programs.rs"));
