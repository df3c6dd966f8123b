//! Guest bindings for the export the trigger calls, generated from the WIT
//! vendored in the repository's `wit/deps/fermyon-spin` (the unversioned
//! `fermyon:spin` package spin-sdk's `#[redis_component]` exports).

wasmtime::component::bindgen!({
    inline: "
        package skiff:trigger-redis;
        world inbound-redis { export fermyon:spin/inbound-redis; }
    ",
    path: "../../wit/deps/fermyon-spin",
    exports: { default: async },
});
