//! Host bindings for `wasi:blobstore@0.2.0-draft`, generated from the WIT
//! vendored in the repository's `wit/deps/` (with the `wasi:io@0.2.0` it
//! refers to).
//!
//! `wasi:io` maps onto wasmtime-wasi's own streams, so the `output-stream`
//! and `input-stream` a guest gets here are ordinary WASI streams in the
//! instance's resource table. Every `wasi:blobstore` error is a string; the
//! functions are `trappable`, so a bad resource handle traps while a failed
//! operation returns its message.

/// `wasi:blobstore/{types,container,blobstore}@0.2.0-draft`.
#[allow(
    dead_code,
    missing_docs,
    reason = "generated: world-level items (`add_to_linker` of the world) go unused, and \
              the WIT's own docs are all there is"
)]
pub mod wasi {
    wasmtime::component::bindgen!({
        world: "wasi:blobstore/imports",
        path: [
            "../../wit/deps/wasi-io@0.2.0",
            "../../wit/deps/wasi-blobstore@0.2.0-draft",
        ],
        imports: { default: async | trappable },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:blobstore/container.container": crate::host::ContainerHandle,
            "wasi:blobstore/container.stream-object-names": crate::host::NamesHandle,
            "wasi:blobstore/types.outgoing-value": crate::host::OutgoingValue,
            "wasi:blobstore/types.incoming-value": crate::host::IncomingValue,
        },
    });
}
