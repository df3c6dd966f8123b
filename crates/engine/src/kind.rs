//! Telling components from core modules.

use anyhow::Result;

/// What a `.wasm` file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A component (component-model binary).
    Component,
    /// A core WebAssembly module (e.g. a WASI preview1 command).
    Module,
}

/// Reads the header of `bytes` (binary or, for tests and hand-written guests, WAT text).
pub fn detect_kind(bytes: &[u8]) -> Result<WasmKind> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok(WasmKind::Component);
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Ok(WasmKind::Module);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let text = text.trim_start();
        if text.starts_with("(component") {
            return Ok(WasmKind::Component);
        }
        if text.starts_with("(module") {
            return Ok(WasmKind::Module);
        }
    }
    anyhow::bail!("not a WebAssembly file (no `\\0asm` header)")
}
