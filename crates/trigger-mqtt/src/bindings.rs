//! Guest bindings for the export the trigger calls, generated from the WIT
//! vendored in the repository's `wit/deps/spin-mqtt-trigger`: Spin's MQTT
//! trigger plugin's (unversioned) world, whose guest exports the root-level
//! function `handle-message` (and may import `spin-mqtt-types`, which holds
//! types only).

wasmtime::component::bindgen!({
    world: "spin:mqtt-trigger/spin-mqtt",
    path: "../../wit/deps/spin-mqtt-trigger",
    exports: { default: async },
});

/// The name a guest imports the types-only interface by.
pub const MQTT_TYPES: &str = "spin:mqtt-trigger/spin-mqtt-types";
