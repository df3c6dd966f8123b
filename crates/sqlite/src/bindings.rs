//! Host bindings for every SQLite interface, generated from the WIT vendored
//! in the repository's `wit/deps/`.
//!
//! Both generations map their `connection` resource onto the same host type,
//! [`ConnectionHandle`](crate::host::ConnectionHandle), and their error type
//! onto [`HostError`](crate::host::HostError), so one [`Database`](crate::Database)
//! serves them all.

/// Spin 2's `fermyon:spin/sqlite@2.0.0`.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:sqlite-spin2;
            world sqlite { import fermyon:spin/sqlite@2.0.0; }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/sqlite.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "fermyon:spin/sqlite.error" => crate::host::HostError,
        },
    });
}

/// Spin 3's `spin:sqlite/sqlite@3.1.0`, which also serves guests importing
/// `@3.0.0` (the linker matches semver-compatible versions). The `*-async`
/// functions are component-model `async func`s, callable only from WASI 0.3
/// guests; the others work from any guest.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:sqlite-spin3;
            world sqlite { import spin:sqlite/sqlite@3.1.0; }
        ",
        path: "../../wit/deps/spin-sqlite@3.1.0",
        imports: { default: async | trappable },
        with: {
            "spin:sqlite/sqlite.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "spin:sqlite/sqlite.error" => crate::host::HostError,
        },
    });
}
