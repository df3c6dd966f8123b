//! Host bindings for every outbound Redis interface, generated from the WIT
//! vendored in the repository's `wit/deps/`.
//!
//! Both generations map their `connection` resource onto the same host type,
//! [`ConnectionHandle`](crate::host::ConnectionHandle), and their error type
//! onto [`HostError`](crate::host::HostError), so one
//! [`RedisConnection`](crate::RedisConnection) serves them all.

/// Spin 2's `fermyon:spin/redis@2.0.0`.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:redis-spin2;
            world redis { import fermyon:spin/redis@2.0.0; }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/redis.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "fermyon:spin/redis.error" => crate::host::HostError,
        },
    });
}

/// Spin 3's `spin:redis/redis@3.0.0`: the same operations as `async func`s
/// (component-model async), callable from WASI 0.3 guests.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:redis-spin3;
            world redis { import spin:redis/redis@3.0.0; }
        ",
        path: "../../wit/deps/spin-redis@3.0.0",
        imports: { default: trappable },
        with: {
            "spin:redis/redis.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "spin:redis/redis.error" => crate::host::HostError,
        },
    });
}
