//! Host bindings for the messaging interfaces, generated from the WIT
//! vendored in the repository's `wit/deps/`.
//!
//! Each world imports what guests call and exports the handler the
//! messaging trigger calls, so the trigger's `*Pre` types come from here too.

/// `wasi:messaging@0.2.0-draft`: `types`, `producer` and `request-reply`
/// imported, `incoming-handler` exported.
#[allow(
    dead_code,
    missing_docs,
    reason = "generated: world-level items (`add_to_linker` of the world) go unused, and \
              the WIT's own docs are all there is"
)]
pub mod wasi {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:messaging-wasi;
            world messaging {
                import wasi:messaging/producer@0.2.0-draft;
                import wasi:messaging/request-reply@0.2.0-draft;
                export wasi:messaging/incoming-handler@0.2.0-draft;
            }
        ",
        path: "../../wit/deps/wasi-messaging@0.2.0-draft",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:messaging/types.client": crate::host::ClientHandle,
            "wasi:messaging/types.message": crate::host::MessageHandle,
            "wasi:messaging/request-reply.request-options": crate::host::RequestOptions,
        },
        trappable_error_type: {
            "wasi:messaging/types.error" => crate::host::HostError,
        },
    });
}

/// wasmCloud's `wasmcloud:messaging@0.2.0`: `consumer` imported, `handler`
/// exported.
#[allow(
    dead_code,
    missing_docs,
    reason = "generated: world-level items (`add_to_linker` of the world) go unused, and \
              the WIT's own docs are all there is"
)]
pub mod wasmcloud {
    wasmtime::component::bindgen!({
        world: "messaging",
        path: "../../wit/deps/wasmcloud-messaging@0.2.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}
