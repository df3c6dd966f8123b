//! An app of one component, for a Wasm file served without a manifest
//! (`skiff up app.wasm`, or a component pulled from a registry): the
//! component at `/...`, granted nothing.

use std::path::Path;

/// The first bytes of every Wasm binary, component or core module.
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Whether the file at `path` starts as a Wasm binary does.
pub fn is_wasm_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok_and(|()| &magic == WASM_MAGIC)
}

/// A component id (kebab-case words, each starting with a letter) from a
/// name such as a file stem or a repository: `org/Hello_World2` →
/// `hello-world2`.
pub fn component_id(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    let mut words: Vec<String> = Vec::new();
    for word in last
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        match words.last_mut() {
            Some(prev) if word.starts_with(|c: char| c.is_ascii_digit()) => prev.push_str(word),
            _ => words.push(word.to_string()),
        }
    }
    let id = words.join("-");
    if id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id
    } else {
        format!("component{id}")
    }
}

/// The `skiff.toml` of an app `id` serving the component at `source` (a
/// path, relative to the manifest's directory or absolute) at `/...`.
pub fn component_manifest(id: &str, source: &str) -> String {
    let mut root = toml::Table::new();
    root.insert("skiff_manifest_version".into(), 1.into());
    let mut application = toml::Table::new();
    application.insert("name".into(), id.into());
    root.insert("application".into(), application.into());
    let mut http = toml::Table::new();
    http.insert("route".into(), "/...".into());
    http.insert("component".into(), id.into());
    let mut trigger = toml::Table::new();
    trigger.insert("http".into(), vec![toml::Value::from(http)].into());
    root.insert("trigger".into(), trigger.into());
    let mut component = toml::Table::new();
    component.insert("source".into(), source.into());
    let mut components = toml::Table::new();
    components.insert(id.into(), component.into());
    root.insert("component".into(), components.into());
    toml::to_string(&root).expect("a table of strings and integers serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kebab_case_words_starting_with_a_letter() {
        assert_eq!(component_id("org/Hello_World"), "hello-world");
        assert_eq!(component_id("hello-2"), "hello2");
        assert_eq!(component_id("apps/http.hello"), "http-hello");
        assert!(component_id("2048").starts_with("component"));
        assert_eq!(component_id("my_app.component"), "my-app-component");
    }

    #[test]
    fn a_wasm_file_is_known_by_its_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("a.wasm");
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
        assert!(is_wasm_file(&wasm));
        let toml = dir.path().join("skiff.toml");
        std::fs::write(&toml, "skiff_manifest_version = 1\n").unwrap();
        assert!(!is_wasm_file(&toml));
        std::fs::write(&toml, "").unwrap();
        assert!(!is_wasm_file(&toml));
        assert!(!is_wasm_file(&dir.path().join("missing.wasm")));
    }
}
