//! The manifests in `deploy/kubernetes/` parse and fit together.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_yaml::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

fn documents(file: &str) -> Result<Vec<Value>> {
    let path = deploy_dir().join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).with_context(|| format!("parsing {}", path.display())))
        .collect()
}

fn get<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(value, |v, key| match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[key],
        })
}

fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    get(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string in {value:?}"))
}

#[test]
fn runtime_class_uses_the_skiff_handler() -> Result<()> {
    let docs = documents("runtimeclass.yaml")?;
    assert_eq!(docs.len(), 1);
    let rc = &docs[0];
    assert_eq!(str_at(rc, "apiVersion"), "node.k8s.io/v1");
    assert_eq!(str_at(rc, "kind"), "RuntimeClass");
    assert_eq!(str_at(rc, "metadata.name"), "skiff");
    assert_eq!(str_at(rc, "handler"), "skiff");
    Ok(())
}

#[test]
fn deployment_runs_on_the_runtime_class_behind_a_service() -> Result<()> {
    let docs = documents("deployment.yaml")?;
    let kinds: Vec<&str> = docs.iter().map(|d| str_at(d, "kind")).collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    let (deployment, service) = (&docs[0], &docs[1]);
    assert_eq!(str_at(deployment, "apiVersion"), "apps/v1");
    assert_eq!(str_at(service, "apiVersion"), "v1");
    let pod = get(deployment, "spec.template");
    assert_eq!(str_at(pod, "spec.runtimeClassName"), "skiff");
    let labels = get(pod, "metadata.labels");
    assert_eq!(get(deployment, "spec.selector.matchLabels"), labels);
    assert_eq!(get(service, "spec.selector"), labels);
    let container = get(pod, "spec.containers.0");
    assert!(!str_at(container, "image").is_empty());
    let port = get(container, "ports.0");
    assert_eq!(
        str_at(service, "spec.ports.0.targetPort"),
        str_at(port, "name")
    );
    let env = get(container, "env")
        .as_sequence()
        .context("container env is not a list")?;
    let listen = env
        .iter()
        .find(|e| str_at(e, "name") == "SKIFF_HTTP_LISTEN")
        .context("no SKIFF_HTTP_LISTEN")?;
    let container_port = get(port, "containerPort")
        .as_u64()
        .context("containerPort")?;
    assert!(str_at(listen, "value").ends_with(&format!(":{container_port}")));
    Ok(())
}

#[test]
fn containerd_snippets_register_the_runtime() -> Result<()> {
    for (file, plugin) in [
        ("containerd-config-1.x.toml", "io.containerd.grpc.v1.cri"),
        ("containerd-config-2.x.toml", "io.containerd.cri.v1.runtime"),
    ] {
        let path = deploy_dir().join(file);
        let table: toml::Table = std::fs::read_to_string(&path)?
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        let runtime = &table["plugins"][plugin]["containerd"]["runtimes"]["skiff"];
        assert_eq!(
            runtime["runtime_type"].as_str(),
            Some("io.containerd.skiff.v1"),
            "{file}"
        );
    }
    Ok(())
}
