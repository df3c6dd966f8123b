//! Host bindings for every WIT interface that exposes variables, generated in one place.
//!
//! The WIT comes from the vendored packages under `wit/deps/` at the repository root:
//!
//! | module | interface | used by |
//! |---|---|---|
//! | [`wasi::config0_2_0_rc_1`] | `wasi:config/store@0.2.0-rc.1` | wasmtime 48's `wasmtime-wasi-config`, wasmCloud |
//! | [`wasi::config0_2_0_draft`] | `wasi:config/store@0.2.0-draft` | older `wasmtime-wasi-config` (e.g. 30.x), older wasmCloud guests |
//! | [`wasi::config0_2_0_draft_2024_09_27`] | `wasi:config/store@0.2.0-draft-2024-09-27` | spin-sdk 5.x and 7.x (`wasi:config` in Spin apps) |
//! | [`fermyon::spin::variables`] | `fermyon:spin/variables@2.0.0` | spin-sdk 2–5 |
//! | [`spin3::spin::variables::variables`] (feature `spin3`) | `spin:variables/variables@3.0.0` (an `async func`) | spin-sdk 7 |
//!
//! All of them are implemented on [`VariablesState`](crate::VariablesState) in
//! `crate::host`, so every generation sees the same resolver.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    inline: "
        package skiff:variables;

        world variables-host {
            import wasi:config/store@0.2.0-rc.1;
            import wasi:config/store@0.2.0-draft;
            import wasi:config/store@0.2.0-draft-2024-09-27;
            import fermyon:spin/variables@2.0.0;
        }
    ",
    path: [
        "../../wit/deps/wasi-config@0.2.0-rc.1",
        "../../wit/deps/wasi-config@0.2.0-draft",
        "../../wit/deps/wasi-config@0.2.0-draft-2024-09-27",
        "../../wit/deps/fermyon-spin@2.0.0",
    ],
    // No `tracing` flag: it would log results, and results are variable values
    // (possibly secrets). `crate::host` opens its own spans, naming only the variable.
    imports: { default: async },
});

/// `spin:variables/variables@3.0.0`, whose `get` is an `async func` and so needs the
/// component-model-async support of wasmtime (the `spin3` feature).
#[cfg(feature = "spin3")]
pub mod spin3 {
    wasmtime::component::bindgen!({
        inline: "
            package skiff:variables-spin3;

            world variables-host {
                import spin:variables/variables@3.0.0;
            }
        ",
        path: ["../../wit/deps/spin-variables@3.0.0"],
    });
}
