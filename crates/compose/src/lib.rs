//! Component dependencies: a component's imports satisfied by other
//! components, composed into one component before it is compiled (Spin 3's
//! `[component.ID.dependencies]`).
//!
//! The composition is made with wac-graph: the component and each dependency
//! are instantiated in one graph, each matched import of the component takes
//! the dependency's export of that name (or the one its `export` names), and
//! the component's exports are the composition's. What the dependencies
//! import themselves becomes the composition's imports, which the host
//! serves as it serves the component's own.
//!
//! A dependency that does not inherit its component's configuration (the
//! default) must not reach what the component was granted. Before it is
//! composed, its imports of capability interfaces ([`is_capability`]: all but
//! I/O, clocks, random, stdio and the HTTP and filesystem types — so outbound
//! HTTP and sockets, preopened directories, environment variables, key-value,
//! SQL, variables, messaging…) are renamed into the `skiff-denied` namespace
//! (`fermyon:spin/key-value@2.0.0` → `skiff-denied:fermyon-spin/key-value@2.0.0`),
//! so they are separate imports from the component's own, and the host
//! answers them as a component with no grants is answered (see
//! `skiff_host::linker_for`). Type imports stay shared, so values of shared
//! types still pass between the two.
//!
//! The composed component is cached: its AOT cache entry is keyed by the
//! digests of the component and of each dependency plus how each is plugged
//! in, so a warm start neither composes nor compiles (`skiff_engine`).
//!
//! [`componentize`] turns a core module with embedded WIT (older Spin SDKs)
//! into a component, for loading and for composing alike.

pub mod componentize;

use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};
use wasm_encoder::Encode as _;
use wasmparser::{BinaryReader, Chunk, ComponentExternName, Parser, Payload};

/// The namespace a dependency's capability imports are renamed into when it
/// does not inherit its component's configuration.
pub const DENIED_NAMESPACE: &str = "skiff-denied";

/// Each dependency of a component with its component's bytes.
pub type Plugged<'d, 'a> = Vec<(&'d Dependency<'a>, Vec<u8>)>;

/// One dependency of a component, as the manifest gives it.
pub struct Dependency<'a> {
    /// The dependency's key as written (`ns:pkg/iface`), for errors and the cache key.
    pub name: String,
    /// Its dotted manifest key, for errors.
    pub key: &'a str,
    /// The component file that implements it.
    pub path: &'a Path,
    /// The export that satisfies the matched imports, when not the import's own name.
    pub export: Option<&'a str>,
    /// Whether it gets the component's configuration.
    pub inherit: bool,
    /// Whether it satisfies the component's import of this name.
    pub matches: Box<dyn Fn(&str) -> bool + 'a>,
}

impl<'a> Dependency<'a> {
    /// A manifest component's `dependencies`; fails for one not yet fetched
    /// (see `skiff_oci::fetch_dependencies`).
    pub fn all(dependencies: &'a [skiff_manifest::Dependency]) -> Result<Vec<Self>> {
        dependencies
            .iter()
            .map(|d| {
                let name = d.name.to_string();
                let path = d.local_path().with_context(|| {
                    format!("dependency `{name}` (`{}`) has not been fetched", d.key)
                })?;
                Ok(Dependency {
                    name,
                    key: &d.key,
                    path,
                    export: d.export.as_deref(),
                    inherit: d.inherit_configuration,
                    matches: Box::new(|import: &str| d.name.matches(import)),
                })
            })
            .collect()
    }
}

/// Whether import `name` (`ns:pkg/iface@version`) may reach something the
/// operator grants, so that a dependency that does not inherit its
/// component's configuration does not get it. Deny by default: every
/// interface is one except those that reach nothing outside the instance —
/// `wasi:io`, `wasi:clocks`, `wasi:random`, stdio, exit and the terminal of
/// `wasi:cli`, `wasi:logging` (the log, as stdout), and the types of
/// `wasi:http` and `wasi:filesystem` (with no preopened directory and no
/// outbound handler, their resources reach nothing). A capability the host gains later is denied without a change
/// here. A plain-named import (`my-import`) is left as it is: no host
/// provides one.
pub fn is_capability(name: &str) -> bool {
    let path = name.split('@').next().unwrap_or(name);
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    let harmless = match package {
        // A log message is output, as stdout is.
        "wasi:io" | "wasi:clocks" | "wasi:random" | "wasi:logging" => true,
        "wasi:cli" => matches!(
            interface,
            "stdin"
                | "stdout"
                | "stderr"
                | "exit"
                | "types"
                | "terminal-input"
                | "terminal-output"
                | "terminal-stdin"
                | "terminal-stdout"
                | "terminal-stderr"
        ),
        "wasi:http" | "wasi:filesystem" => interface == "types",
        _ => false,
    };
    !harmless
}

/// The name a denied import `name` is renamed to.
pub fn denied_name(name: &str) -> String {
    let (package, rest) = name.split_once('/').unwrap_or((name, ""));
    format!("{DENIED_NAMESPACE}:{}/{rest}", package.replace(':', "-"))
}

/// `bytes` (read from `path`, named `what` in errors) as a component: as
/// they are for a component, componentized for a core module with embedded
/// WIT; an error for anything else.
pub fn as_component(bytes: Vec<u8>, what: &str, path: &Path) -> Result<Vec<u8>> {
    if Parser::is_component(&bytes) {
        Ok(bytes)
    } else if Parser::is_core_wasm(&bytes) && componentize::has_component_type(&bytes) {
        componentize::componentize(&bytes)
            .with_context(|| format!("could not make {what} `{}` a component", path.display()))
    } else if Parser::is_core_wasm(&bytes) {
        bail!(
            "{what} `{}` is a core WebAssembly module without embedded WIT type information, \
             not a component",
            path.display()
        )
    } else {
        bail!("{what} `{}` is not WebAssembly", path.display())
    }
}

/// Reads component `id` from `source` and its dependencies' files, and
/// composes them ([`compose`]): what `skiff push` ships for a component with
/// dependencies, so the artifact needs no dependency where it runs.
pub fn compose_files(id: &str, source: &Path, dependencies: &[Dependency<'_>]) -> Result<Vec<u8>> {
    let (parent, deps) = read_all(source, dependencies, |path| std::fs::read(path))?;
    compose(id, &parent, &deps)
}

/// The bytes of component `source` and of each dependency, as components
/// ([`as_component`]), each file read by `read`; errors name the file (and
/// a dependency's manifest key).
pub fn read_all<'d, 'a>(
    source: &Path,
    dependencies: &'d [Dependency<'a>],
    read: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(Vec<u8>, Plugged<'d, 'a>)> {
    let component = |path: &Path, what: &str| -> Result<Vec<u8>> {
        let bytes =
            read(path).with_context(|| format!("could not read {what} `{}`", path.display()))?;
        as_component(bytes, what, path)
    };
    let parent = component(source, "component")?;
    let mut deps = Vec::with_capacity(dependencies.len());
    for dep in dependencies {
        let what = format!("dependency `{}` (`{}`)", dep.name, dep.key);
        deps.push((dep, component(dep.path, &what)?));
    }
    Ok((parent, deps))
}

/// What names a composition (its AOT cache key is this recipe's digest):
/// the component's bytes, then each dependency's bytes and how it is
/// plugged in. The leading tag changes whenever composing the same inputs
/// would give another result (e.g. a change to [`is_capability`]).
pub fn recipe(parent: &[u8], deps: &[(&Dependency<'_>, Vec<u8>)]) -> Vec<u8> {
    let mut recipe = b"skiff-compose-3\0".to_vec();
    recipe.extend_from_slice(&Sha256::digest(parent));
    for (dep, bytes) in deps {
        recipe.extend_from_slice(dep.name.as_bytes());
        recipe.push(0);
        recipe.extend_from_slice(dep.export.unwrap_or("").as_bytes());
        recipe.push(0);
        recipe.push(dep.inherit as u8);
        recipe.extend_from_slice(&Sha256::digest(bytes));
    }
    recipe
}

/// Composes `parent` with its dependencies (each with its component bytes):
/// every import of `parent` a dependency matches takes that dependency's
/// export. Fails naming the dependency's manifest key when a dependency
/// matches no import, two match one import, an export is missing or its type
/// does not fit the import.
pub fn compose(
    component_id: &str,
    parent: &[u8],
    deps: &[(&Dependency<'_>, Vec<u8>)],
) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let package = Package::from_bytes(component_id, None, parent.to_vec(), graph.types_mut())
        .with_context(|| format!("could not read component `{component_id}`"))?;
    let world = package.ty();
    let package = graph.register_package(package)?;
    let main = graph.instantiate(package);
    let imports: Vec<String> = graph.types()[world].imports.keys().cloned().collect();

    let mut plugged: Vec<(String, usize)> = Vec::new();
    let mut instances = Vec::with_capacity(deps.len());
    for (i, (dep, bytes)) in deps.iter().enumerate() {
        let matched: Vec<&String> = imports.iter().filter(|name| (dep.matches)(name)).collect();
        if matched.is_empty() {
            let listed = imports
                .iter()
                .filter(|name| name.contains(':'))
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>();
            bail!(
                "`{}`: component `{component_id}` has no import that dependency `{}` names; it \
                 imports {}",
                dep.key,
                dep.name,
                if listed.is_empty() {
                    "no interfaces".to_string()
                } else {
                    listed.join(", ")
                }
            );
        }
        for name in matched {
            if let Some((_, other)) = plugged.iter().find(|(n, _)| n == name) {
                bail!(
                    "`{}`: component `{component_id}`'s import `{name}` is named by two \
                     dependencies, `{}` and `{}`; only one may satisfy it",
                    dep.key,
                    deps[*other].0.name,
                    dep.name
                );
            }
            plugged.push((name.clone(), i));
        }
        let bytes = if dep.inherit {
            bytes.clone()
        } else {
            deny_capabilities(bytes).with_context(|| {
                format!(
                    "`{}`: could not read dependency `{}` ({})",
                    dep.key,
                    dep.name,
                    dep.path.display()
                )
            })?
        };
        let package = Package::from_bytes(
            &format!("skiff-dep{i}:component"),
            None,
            bytes,
            graph.types_mut(),
        )
        .with_context(|| {
            format!(
                "`{}`: dependency `{}` ({}) is not a valid component",
                dep.key,
                dep.name,
                dep.path.display()
            )
        })?;
        let dep_world = package.ty();
        let package = graph.register_package(package)?;
        instances.push((graph.instantiate(package), dep_world));
    }

    for (import, i) in &plugged {
        let dep = deps[*i].0;
        let (instance, dep_world) = instances[*i];
        let export = dep.export.unwrap_or(import);
        if !graph.types()[dep_world].exports.contains_key(export) {
            let exports = graph.types()[dep_world]
                .exports
                .keys()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ");
            bail!(
                "`{}`: dependency `{}` ({}) has no export `{export}` for component \
                 `{component_id}`'s import `{import}`; it exports {exports}",
                dep.key,
                dep.name,
                dep.path.display()
            );
        }
        let node = graph.alias_instance_export(instance, export)?;
        graph
            .set_instantiation_argument(main, import, node)
            .map_err(|err| {
                let cause = std::error::Error::source(&err)
                    .map(|s| format!(": {s:#}"))
                    .unwrap_or_default();
                anyhow::anyhow!(
                    "`{}`: dependency `{}`'s export `{export}` does not fit component \
                     `{component_id}`'s import `{import}` ({err}{cause})",
                    dep.key,
                    dep.name
                )
            })?;
    }

    let exports: Vec<String> = graph.types()[world].exports.keys().cloned().collect();
    for name in exports {
        let node = graph.alias_instance_export(main, &name)?;
        graph.export(node, &name)?;
    }
    graph.encode(EncodeOptions::default()).with_context(|| {
        format!("could not compose component `{component_id}` with its dependencies")
    })
}

/// `component` with each capability import renamed into [`DENIED_NAMESPACE`]
/// (unchanged if it has none).
pub fn deny_capabilities(component: &[u8]) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Component::new();
    let mut parser = Parser::new(0);
    let mut offset = 0;
    let mut renamed = false;
    while offset < component.len() {
        let (payload, consumed) = match parser.parse(&component[offset..], true)? {
            Chunk::Parsed { consumed, payload } => (payload, consumed),
            Chunk::NeedMoreData(_) => bail!("the component is truncated"),
        };
        match &payload {
            Payload::Version { encoding, .. } => {
                if *encoding != wasmparser::Encoding::Component {
                    bail!("not a component");
                }
            }
            Payload::ComponentImportSection(reader) => {
                let range = reader.range();
                let (data, any) = rename_imports(&component[range.clone()], range.start)?;
                renamed |= any;
                out.section(&wasm_encoder::RawSection {
                    id: 10,
                    data: &data,
                });
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                let (id, range) = payload.as_section().expect("a section");
                out.section(&wasm_encoder::RawSection {
                    id,
                    data: &component[range],
                });
                // The parent parser is not fed the nested bytes: they are
                // skipped below.
            }
            Payload::End(_) => {}
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&wasm_encoder::RawSection {
                        id,
                        data: &component[range],
                    });
                }
            }
        }
        offset += consumed;
        if let Payload::ModuleSection {
            unchecked_range, ..
        }
        | Payload::ComponentSection {
            unchecked_range, ..
        } = &payload
        {
            offset = unchecked_range.end;
        }
        if matches!(payload, Payload::End(_)) {
            break;
        }
    }
    Ok(if renamed {
        out.finish()
    } else {
        component.to_vec()
    })
}

/// Re-encodes an import section's contents with capability imports renamed;
/// each import's type is copied as it was.
fn rename_imports(data: &[u8], base: usize) -> Result<(Vec<u8>, bool)> {
    let mut reader = BinaryReader::new(data, base);
    let count = reader.read_var_u32()?;
    let mut out = Vec::with_capacity(data.len() + 64);
    count.encode(&mut out);
    let mut any = false;
    for _ in 0..count {
        let name: ComponentExternName<'_> = reader.read()?;
        let start = reader.original_position() - base;
        let _ty: wasmparser::ComponentTypeRef = reader.read()?;
        let end = reader.original_position() - base;
        let new_name = if is_capability(name.name) {
            any = true;
            denied_name(name.name)
        } else {
            name.name.to_string()
        };
        wasm_encoder::ComponentExternName {
            name: new_name.into(),
            implements: name.implements.map(Into::into),
            version_suffix: name.version_suffix.map(Into::into),
            external_id: name.external_id.map(Into::into),
        }
        .encode(&mut out);
        out.extend_from_slice(&data[start..end]);
    }
    if !reader.eof() {
        bail!("unexpected data after the imports");
    }
    Ok((out, any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_what_the_operator_grants() {
        for name in [
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:http/handler@0.3.0",
            "wasi:sockets/tcp@0.2.0",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:cli/environment@0.2.6",
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:config/store@0.2.0-rc.1",
            "fermyon:spin/key-value@2.0.0",
            "spin:postgres/postgres@4.2.0",
        ] {
            assert!(is_capability(name), "{name}");
        }
        for name in [
            "wasi:io/streams@0.2.6",
            "wasi:http/types@0.2.6",
            "wasi:http/types@0.3.0",
            "wasi:filesystem/types@0.2.6",
            "wasi:cli/stdout@0.2.6",
            "wasi:cli/exit@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.6",
            "wasi:random/random@0.2.6",
            "wasi:logging/logging@0.1.0-draft",
            "plain-name",
        ] {
            assert!(!is_capability(name), "{name}");
        }
        // Deny by default: what the host may provide one day, and anything
        // it does not know.
        for name in ["wasi:nn/inference@0.2.0", "example:greeter/greet@0.1.0"] {
            assert!(is_capability(name), "{name}");
        }
        assert_eq!(
            denied_name("fermyon:spin/key-value@2.0.0"),
            "skiff-denied:fermyon-spin/key-value@2.0.0"
        );
    }

    #[test]
    fn capability_imports_are_renamed_and_the_rest_kept() {
        let component = wat::parse_str(
            r#"(component
                (import "wasi:cli/environment@0.2.6" (instance
                    (export "get-environment" (func (result (list (tuple string string)))))))
                (import "wasi:random/random@0.2.6" (instance
                    (export "get-random-u64" (func (result u64)))))
                (core module $m)
                (core instance (instantiate $m))
            )"#,
        )
        .unwrap();
        let denied = deny_capabilities(&component).unwrap();
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&denied)
            .unwrap();
        let text = wasmprinter::print_bytes(&denied).unwrap();
        assert!(
            text.contains("skiff-denied:wasi-cli/environment@0.2.6"),
            "{text}"
        );
        assert!(text.contains("\"wasi:random/random@0.2.6\""), "{text}");
        assert!(!text.contains("\"wasi:cli/environment@0.2.6\""), "{text}");

        let plain =
            wat::parse_str("(component (import \"wasi:random/random@0.2.6\" (instance)))").unwrap();
        assert_eq!(
            deny_capabilities(&plain).unwrap(),
            plain,
            "nothing to rename"
        );
    }
}
