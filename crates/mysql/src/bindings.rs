//! Host bindings for `fermyon:spin/mysql@2.0.0`, generated from the WIT
//! vendored in the repository's `wit/deps/`.

/// Spin 2's `fermyon:spin/mysql@2.0.0` (with `fermyon:spin/rdbms-types`,
/// which it shares with `fermyon:spin/postgres@2.0.0`).
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:mysql-spin2;
            world mysql { import fermyon:spin/mysql@2.0.0; }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/mysql.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "fermyon:spin/rdbms-types.error" => crate::host::HostError,
        },
    });
}
