//! Host bindings for every key-value interface, generated from the WIT
//! vendored in the repository's `wit/deps/`.
//!
//! Each interface generation gets its own module; all of them map their store
//! resource onto the same host type, [`StoreHandle`](crate::host::StoreHandle),
//! and their error type onto [`HostError`](crate::host::HostError), so one
//! `Store` serves them all.

/// `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` — what wasmtime's
/// `wasmtime-wasi-keyvalue` and wasmCloud serve.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod wasi_draft {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/wasi-keyvalue@0.2.0-draft",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::StoreHandle,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => crate::host::HostError,
        },
    });
}

/// `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` — what Spin serves; its
/// `atomics` adds compare-and-swap.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod wasi_draft2 {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/wasi-keyvalue@0.2.0-draft2",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::StoreHandle,
            "wasi:keyvalue/atomics.cas": crate::host::CasHandle,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => crate::host::HostError,
        },
    });
}

/// Spin 2's `fermyon:spin/key-value@2.0.0`.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:kv-spin2;
            world kv { import fermyon:spin/key-value@2.0.0; }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": crate::host::StoreHandle,
        },
        trappable_error_type: {
            "fermyon:spin/key-value.error" => crate::host::HostError,
        },
    });
}

/// Spin 3's `spin:key-value/key-value@3.0.0`: `async func`s (component-model
/// async), with `get-keys` streaming the keys.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:kv-spin3;
            world kv { import spin:key-value/key-value@3.0.0; }
        ",
        path: "../../wit/deps/spin-key-value@3.0.0",
        imports: { default: trappable },
        with: {
            "spin:key-value/key-value.store": crate::host::StoreHandle,
        },
        trappable_error_type: {
            "spin:key-value/key-value.error" => crate::host::HostError,
        },
    });
}
