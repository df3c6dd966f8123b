//! Core modules that carry their WIT type information — what older Spin SDKs and
//! many published Spin apps ship (`wasm32-wasi` modules built with wit-bindgen) —
//! are turned into components at load, as Spin does: wit-component's encoder
//! plus the WASI preview1 adapter (the command adapter for a module exporting
//! `_start`, the reactor adapter otherwise). The result goes through the AOT
//! cache keyed by the module's own bytes, so this runs once per module.

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};

/// Whether a core module embeds component type information (the
/// `component-type*` custom sections wit-bindgen writes).
pub fn has_component_type(module: &[u8]) -> bool {
    Parser::new(0).parse_all(module).any(|payload| {
        matches!(payload, Ok(Payload::CustomSection(section)) if section.name().starts_with("component-type"))
    })
}

/// Encodes a core module and its embedded WIT as a component, adapting its
/// `wasi_snapshot_preview1` imports to WASI 0.2.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    let adapter = if exports_start(module) {
        WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
    } else {
        WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
    };
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder
        .validate(true)
        .module(module)
        .context("the module's embedded WIT type information is invalid")?;
    if imports_preview1(module) {
        encoder
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
            .context("could not apply the WASI preview1 adapter")?;
    }
    encoder
        .encode()
        .context("could not turn the core module into a component")
}

fn exports_start(module: &[u8]) -> bool {
    Parser::new(0)
        .parse_all(module)
        .any(|payload| match payload {
            Ok(Payload::ExportSection(exports)) => exports
                .into_iter()
                .any(|e| e.is_ok_and(|e| e.name == "_start")),
            _ => false,
        })
}

fn imports_preview1(module: &[u8]) -> bool {
    Parser::new(0)
        .parse_all(module)
        .any(|payload| match payload {
            Ok(Payload::ImportSection(imports)) => imports.into_iter().any(|group| {
                let module = match group {
                    Ok(wasmparser::Imports::Single(_, import)) => import.module,
                    Ok(wasmparser::Imports::Compact1 { module, .. })
                    | Ok(wasmparser::Imports::Compact2 { module, .. }) => module,
                    Err(_) => return false,
                };
                module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME
            }),
            _ => false,
        })
}
