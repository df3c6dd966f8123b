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

/// Whether interface `name` (`package/interface@version`) has `async func`s,
/// which wasmtime serves with concurrent host functions: WASI 0.3, Spin 3's
/// packages (`spin:sqlite@3.0` is served by the `@3.1` bindings, which have
/// some), and `spin:postgres@4` (`spin:postgres@3` has none).
fn is_concurrent_interface(name: &str) -> bool {
    let Some((package, version)) = name.split_once('@') else {
        return false;
    };
    let major = version.split('.').next().unwrap_or_default();
    if package.starts_with("wasi:") {
        return version.starts_with("0.3");
    }
    if package.starts_with("spin:postgres/") {
        return major == "4";
    }
    package.starts_with("spin:") && major == "3"
}

/// Whether `bytes` (a component or core module, binary) needs an engine with
/// [`wasmtime::Config::concurrency_support`]: it imports or exports an
/// interface of `async func`s — WASI 0.3 (`wasi:*@0.3.*`, e.g.
/// `wasi:http/handler@0.3.0`), Spin 3's `spin:*@3` packages, or
/// `spin:postgres@4`. Only the outermost imports and exports are read, and
/// nested modules and function bodies are stepped over unparsed, so this costs
/// little even for a component of tens of megabytes; a file that does not parse answers `true` (the engine that
/// accepts most reports the real error).
pub fn needs_concurrency(bytes: &[u8]) -> bool {
    use wasmparser::{Chunk, Payload};
    let concurrent = is_concurrent_interface;
    let mut parser = wasmparser::Parser::new(0);
    let mut rest = bytes;
    loop {
        let payload = match parser.parse(rest, true) {
            Ok(Chunk::Parsed { consumed, payload }) => {
                rest = &rest[consumed..];
                payload
            }
            // `NeedMoreData` cannot happen at end of input; treat it as a parse error.
            Ok(Chunk::NeedMoreData(_)) | Err(_) => return true,
        };
        match payload {
            // Nested modules and components import from their parent, not the
            // host: step over them whole rather than walk their code.
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let Some(after) = rest.get(unchecked_range.len()..) else {
                    return true;
                };
                rest = after;
            }
            // A core module's function bodies say nothing about its imports.
            Payload::CodeSectionStart { size, .. } => {
                let Some(after) = rest.get(size as usize..) else {
                    return true;
                };
                parser.skip_section();
                rest = after;
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let Ok(import) = import else { return true };
                    if concurrent(import.name.name)
                        || import.name.implements.is_some_and(concurrent)
                    {
                        return true;
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let Ok(export) = export else { return true };
                    if concurrent(export.name.name)
                        || export.name.implements.is_some_and(concurrent)
                    {
                        return true;
                    }
                }
            }
            // A core module with embedded WIT (componentized at load) names
            // its interfaces as import modules.
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let Ok(import) = import else { return true };
                    if concurrent(import.module) {
                        return true;
                    }
                }
            }
            Payload::End(_) => return false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::needs_concurrency;

    fn component(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    #[test]
    fn p2_components_and_modules_need_no_concurrency() {
        assert!(!needs_concurrency(&component(
            r#"(component (import "wasi:cli/environment@0.2.6" (instance)) (import "fermyon:spin/key-value@2.0.0" (instance)))"#
        )));
        assert!(!needs_concurrency(&component(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#
        )));
    }

    #[test]
    fn wasi_03_and_spin_3_async_interfaces_need_it() {
        for name in [
            "wasi:http/types@0.3.0-rc-2025-09-16",
            "spin:key-value/key-value@3.0.0",
            "spin:variables/variables@3.0.0",
            "spin:redis/redis@3.0.0",
            "spin:mqtt/mqtt@3.0.0",
            "spin:sqlite/sqlite@3.0.0",
        ] {
            let wat = format!(r#"(component (import "{name}" (instance)))"#);
            assert!(needs_concurrency(&component(&wat)), "{name}");
        }
        assert!(needs_concurrency(&component(
            r#"(module (import "spin:key-value/key-value@3.0.0" "[async-lower]get" (func)))"#
        )));
        assert!(needs_concurrency(&component(
            r#"(component (import "spin:postgres/postgres@4.2.0" (instance)))"#
        )));
        assert!(!needs_concurrency(&component(
            r#"(component (import "spin:postgres/postgres@3.0.0" (instance)) (import "fermyon:spin/sqlite@2.0.0" (instance)))"#
        )));
    }

    #[test]
    fn nested_code_is_stepped_over_and_later_sections_still_read() {
        // A nested module with code (and an import of its own, from the
        // parent) before the outer export: only the outer names count.
        let nested = r#"(core module $m
                (import "spin:key-value/key-value@3.0.0" "get" (func))
                (func (export "f") (local i32) local.get 0 drop))"#;
        assert!(!needs_concurrency(&component(&format!(
            "(component {nested} (core instance (instantiate $m (with \"spin:key-value/key-value@3.0.0\" (instance)))))"
        ))));
        assert!(needs_concurrency(&component(&format!(
            r#"(component {nested} (import "i" (instance $i)) (export "wasi:http/handler@0.3.0-rc-2025-09-16" (instance $i)))"#
        ))));
        // A core module's imports are read, its function bodies skipped.
        assert!(!needs_concurrency(&component(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "g") (nop)))"#
        )));
    }

    #[test]
    fn truncated_input_counts_as_needing_it() {
        let bytes = component(
            r#"(component (core module (func (export "f") nop)) (import "wasi:cli/environment@0.2.6" (instance)))"#,
        );
        assert!(!needs_concurrency(&bytes));
        for cut in [bytes.len() - 1, bytes.len() / 2, 9] {
            assert!(needs_concurrency(&bytes[..cut]), "cut at {cut}");
        }
    }
}
