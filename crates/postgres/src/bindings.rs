//! Host bindings for every PostgreSQL interface, generated from the WIT
//! vendored in the repository's `wit/deps/`.
//!
//! Every generation maps its `connection` resource onto the same host type,
//! [`ConnectionHandle`](crate::host::ConnectionHandle), and its error type
//! onto [`HostError`](crate::host::HostError), so one
//! [`PgConnection`](crate::PgConnection) serves them all.

/// Spin 2's `fermyon:spin/postgres@2.0.0` (with `fermyon:spin/rdbms-types`).
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:postgres-spin2;
            world postgres { import fermyon:spin/postgres@2.0.0; }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/postgres.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "fermyon:spin/rdbms-types.error" => crate::host::HostError,
        },
    });
}

/// Spin 3's `spin:postgres/postgres@3.0.0`: adds date and time types.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:postgres-spin3;
            world postgres { import spin:postgres/postgres@3.0.0; }
        ",
        path: "../../wit/deps/spin-postgres@3.0.0",
        imports: { default: async | trappable },
        with: {
            "spin:postgres/postgres.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "spin:postgres/postgres.error" => crate::host::HostError,
        },
    });
}

/// `spin:postgres/postgres@4.2.0`, which also serves guests importing
/// `@4.0.0` and `@4.1.0` (the linker matches semver-compatible versions):
/// uuid, jsonb, decimal, ranges, arrays, interval, structured server errors,
/// and a `connection-builder`. The `*-async` functions are component-model
/// `async func`s, callable only from WASI 0.3 guests.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin4 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:postgres-spin4;
            world postgres { import spin:postgres/postgres@4.2.0; }
        ",
        path: "../../wit/deps/spin-postgres@4.2.0",
        imports: { default: async | trappable },
        with: {
            "spin:postgres/postgres.connection": crate::host::ConnectionHandle,
            "spin:postgres/postgres.connection-builder": crate::host::BuilderHandle,
        },
        trappable_error_type: {
            "spin:postgres/postgres.error" => crate::host::HostError,
        },
    });
}
