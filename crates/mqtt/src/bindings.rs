//! Host bindings for every outbound MQTT interface, generated from the WIT
//! vendored in the repository's `wit/deps/`.
//!
//! Both generations map their `connection` resource onto the same host type,
//! [`ConnectionHandle`](crate::host::ConnectionHandle), and their error type
//! onto [`HostError`](crate::host::HostError).

/// Spin 2's `fermyon:spin/mqtt@2.0.0`.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin2 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:mqtt-spin2;
            world mqtt { import fermyon:spin/mqtt@2.0.0; }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/mqtt.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "fermyon:spin/mqtt.error" => crate::host::HostError,
        },
    });
}

/// Spin 3's `spin:mqtt/mqtt@3.0.0`: the same operations as `async func`s
/// (component-model async), callable from WASI 0.3 guests.
#[allow(
    dead_code,
    reason = "world-level items (`*Pre`, `add_to_linker` of the world) go unused"
)]
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:mqtt-spin3;
            world mqtt { import spin:mqtt/mqtt@3.0.0; }
        ",
        path: "../../wit/deps/spin-mqtt@3.0.0",
        imports: { default: trappable },
        with: {
            "spin:mqtt/mqtt.connection": crate::host::ConnectionHandle,
        },
        trappable_error_type: {
            "spin:mqtt/mqtt.error" => crate::host::HostError,
        },
    });
}
