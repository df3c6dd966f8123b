//! Guest bindings for the exports the trigger calls, generated from the WIT
//! vendored in the repository's `wit/deps`: the unversioned `fermyon:spin`
//! package spin-sdk's `#[redis_component]` exports, and Spin 3's
//! `spin:redis/inbound-redis@3.0.0` (an `async func`, called concurrently).

/// `fermyon:spin/inbound-redis`.
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:trigger-redis;
            world inbound-redis { export fermyon:spin/inbound-redis; }
        ",
        path: "../../wit/deps/fermyon-spin",
        exports: { default: async },
    });
}

/// `spin:redis/inbound-redis@3.0.0`.
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:trigger-redis3;
            world inbound-redis { export spin:redis/inbound-redis@3.0.0; }
        ",
        path: "../../wit/deps/spin-redis@3.0.0",
        exports: { default: async | store },
    });
}
