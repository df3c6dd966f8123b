//! Guest bindings for the export the trigger calls, generated from the WIT
//! vendored in the repository's `wit/deps/spin-cron@2.0.0`: Spin's cron
//! trigger plugin's world, whose guest exports the root-level function
//! `handle-cron-event` (and may import `cron-types`, which holds types only).

wasmtime::component::bindgen!({
    world: "fermyon:spin-cron/spin-cron",
    path: "../../wit/deps/spin-cron@2.0.0",
    exports: { default: async },
});

/// The name a guest imports the types-only interface by.
pub const CRON_TYPES: &str = "fermyon:spin-cron/cron-types@2.0.0";
