//! Skiff's app artifact (see `docs/oci.md`): building its layers from a loaded
//! app, and turning a pulled one back into a directory `skiff up` serves.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use skiff_manifest::{App, Route};
use toml::{Table, Value};

use crate::cache::sha256_digest;
use crate::media_types;

/// A component with more static files than this ships them as one tar layer.
pub(crate) const MAX_FILE_LAYERS: usize = 16;

/// One layer to push.
pub(crate) struct Layer {
    pub data: Bytes,
    pub media_type: &'static str,
    /// `org.opencontainers.image.title`.
    pub title: String,
}

impl Layer {
    pub(crate) fn digest(&self) -> String {
        sha256_digest(&self.data)
    }
}

/// The layers of `app`'s artifact, the manifest layer first, then components
/// and files in manifest order; identical content is one layer.
pub(crate) fn app_layers(app: &App) -> Result<Vec<Layer>> {
    let mut layers: Vec<Layer> = Vec::new();
    let mut add = |layer: Layer| -> String {
        let digest = layer.digest();
        if !layers.iter().any(|l| l.digest() == digest) {
            layers.push(layer);
        }
        digest
    };
    let mut components = Table::new();
    for (id, c) in &app.components {
        // A component with dependencies ships composed with them, so the
        // artifact runs with nothing more to fetch.
        let wasm = if c.dependencies.is_empty() {
            std::fs::read(&c.source).with_context(|| {
                format!(
                    "could not read component `{id}` source `{}`",
                    c.source.display()
                )
            })?
        } else {
            let deps = skiff_compose::Dependency::all(&c.dependencies)?;
            skiff_compose::compose_files(id, &c.source, &deps)?
        };
        let source = add(Layer {
            data: wasm.into(),
            media_type: media_types::WASM_LAYER,
            title: format!("{id}.wasm"),
        });
        let mut table = Table::new();
        table.insert("source".into(), source.into());
        if let Some(d) = &c.description {
            table.insert("description".into(), d.clone().into());
        }
        let files = static_files(id, &c.files)?;
        let mut mounts = Vec::new();
        if files.len() <= MAX_FILE_LAYERS {
            for (host, guest) in &files {
                let data = std::fs::read(host).with_context(|| {
                    format!(
                        "could not read file `{}` of component `{id}`",
                        host.display()
                    )
                })?;
                let digest = add(Layer {
                    data: data.into(),
                    media_type: media_types::FILE_LAYER,
                    title: guest.trim_start_matches('/').to_string(),
                });
                mounts.push(mount(&digest, guest));
            }
        } else {
            let digest = add(Layer {
                data: files_tar(id, &files)?.into(),
                media_type: media_types::FILES_TAR_LAYER,
                title: format!("{id}-files.tar"),
            });
            mounts.push(mount(&digest, "/"));
        }
        if !mounts.is_empty() {
            table.insert("files".into(), Value::Array(mounts));
        }
        insert_map(&mut table, "environment", &c.environment);
        insert_list(
            &mut table,
            "allowed_outbound_hosts",
            &c.allowed_outbound_hosts,
        );
        insert_list(&mut table, "key_value_stores", &c.key_value_stores);
        insert_list(&mut table, "sqlite_databases", &c.sqlite_databases);
        insert_list(&mut table, "message_brokers", &c.message_brokers);
        insert_list(&mut table, "blob_stores", c.blob_store.as_slice());
        insert_map(&mut table, "variables", &c.variables);
        let mut limits = Table::new();
        limits.insert("memory".into(), format!("{}B", c.limits.memory).into());
        limits.insert(
            "timeout".into(),
            format!("{}ns", c.limits.timeout.as_nanos()).into(),
        );
        if let Some(n) = c.limits.max_concurrency {
            limits.insert("max_concurrency".into(), i64::from(n).into());
        }
        limits.insert("max_body".into(), format!("{}B", c.limits.max_body).into());
        table.insert("limits".into(), Value::Table(limits));
        components.insert(id.clone(), Value::Table(table));
    }
    let manifest = manifest_toml(app, components);
    let mut all = vec![Layer {
        data: manifest.into_bytes().into(),
        media_type: media_types::APP_MANIFEST,
        title: "skiff.toml".into(),
    }];
    all.extend(layers);
    Ok(all)
}

fn mount(source: &str, destination: &str) -> Value {
    let mut t = Table::new();
    t.insert("source".into(), source.into());
    t.insert("destination".into(), destination.into());
    Value::Table(t)
}

fn insert_list(table: &mut Table, key: &str, items: &[String]) {
    if !items.is_empty() {
        table.insert(
            key.into(),
            Value::Array(items.iter().cloned().map(Value::from).collect()),
        );
    }
}

fn insert_map(table: &mut Table, key: &str, map: &BTreeMap<String, String>) {
    if !map.is_empty() {
        let t: Table = map
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        table.insert(key.into(), Value::Table(t));
    }
}

/// The app's skiff.toml with `components` (sources already digests).
fn manifest_toml(app: &App, components: Table) -> String {
    let mut root = Table::new();
    root.insert("skiff_manifest_version".into(), 1.into());
    let mut application = Table::new();
    application.insert("name".into(), app.name.clone().into());
    if let Some(v) = &app.version {
        application.insert("version".into(), v.clone().into());
    }
    if let Some(d) = &app.description {
        application.insert("description".into(), d.clone().into());
    }
    insert_list(&mut application, "authors", &app.authors);
    let mut app_trigger = Table::new();
    if let Some(address) = &app.redis_address {
        let mut redis = Table::new();
        redis.insert("address".into(), address.clone().into());
        app_trigger.insert("redis".into(), Value::Table(redis));
    }
    if !app.mqtt_triggers.is_empty() {
        app_trigger.insert("mqtt".into(), Value::Table(mqtt_settings(&app.mqtt)));
    }
    if !app_trigger.is_empty() {
        application.insert("trigger".into(), Value::Table(app_trigger));
    }
    root.insert("application".into(), Value::Table(application));
    if !app.variables.is_empty() {
        let mut variables = Table::new();
        for (name, v) in &app.variables {
            let mut t = Table::new();
            // A variable without a default stays unresolved: the operator
            // provides it where the app runs.
            if let Some(d) = &v.default {
                t.insert("default".into(), d.clone().into());
            }
            if v.required {
                t.insert("required".into(), true.into());
            }
            if v.secret {
                t.insert("secret".into(), true.into());
            }
            variables.insert(name.clone(), Value::Table(t));
        }
        root.insert("variables".into(), Value::Table(variables));
    }
    let mut trigger = Table::new();
    if !app.http_triggers.is_empty() {
        let http = app
            .http_triggers
            .iter()
            .map(|t| {
                let mut e = Table::new();
                let route = match &t.route {
                    Route::Private => {
                        let mut p = Table::new();
                        p.insert("private".into(), true.into());
                        Value::Table(p)
                    }
                    route => route.to_string().into(),
                };
                e.insert("route".into(), route);
                match &t.static_response {
                    Some(response) => {
                        let mut r = Table::new();
                        r.insert("status_code".into(), i64::from(response.status).into());
                        if !response.headers.is_empty() {
                            let headers: Table = response
                                .headers
                                .iter()
                                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                                .collect();
                            r.insert("headers".into(), Value::Table(headers));
                        }
                        if let Some(body) = &response.body {
                            r.insert("body".into(), body.clone().into());
                        }
                        e.insert("static_response".into(), Value::Table(r));
                    }
                    None => {
                        e.insert("component".into(), t.component.clone().into());
                    }
                }
                Value::Table(e)
            })
            .collect();
        trigger.insert("http".into(), Value::Array(http));
    }
    if !app.redis_triggers.is_empty() {
        let redis = app
            .redis_triggers
            .iter()
            .map(|t| {
                let mut e = Table::new();
                e.insert("channel".into(), t.channel.clone().into());
                if let Some(a) = &t.address {
                    e.insert("address".into(), a.clone().into());
                }
                e.insert("component".into(), t.component.clone().into());
                Value::Table(e)
            })
            .collect();
        trigger.insert("redis".into(), Value::Array(redis));
    }
    if !app.messaging_triggers.is_empty() {
        let messaging = app
            .messaging_triggers
            .iter()
            .map(|t| {
                let mut e = Table::new();
                e.insert("subject".into(), t.subject.clone().into());
                if let Some(g) = &t.queue_group {
                    e.insert("queue_group".into(), g.clone().into());
                }
                e.insert("broker".into(), t.broker.clone().into());
                e.insert("component".into(), t.component.clone().into());
                Value::Table(e)
            })
            .collect();
        trigger.insert("messaging".into(), Value::Array(messaging));
    }
    if !app.cron_triggers.is_empty() {
        let cron = app
            .cron_triggers
            .iter()
            .map(|t| {
                let mut e = Table::new();
                e.insert("cron_expression".into(), t.expression.clone().into());
                e.insert("component".into(), t.component.clone().into());
                Value::Table(e)
            })
            .collect();
        trigger.insert("cron".into(), Value::Array(cron));
    }
    if !app.mqtt_triggers.is_empty() {
        let mqtt = app
            .mqtt_triggers
            .iter()
            .map(|t| {
                let mut e = Table::new();
                e.insert("topic".into(), t.topic.clone().into());
                e.insert("qos".into(), i64::from(t.qos.level()).into());
                if let Some(a) = &t.address {
                    e.insert("address".into(), a.clone().into());
                }
                e.insert("component".into(), t.component.clone().into());
                Value::Table(e)
            })
            .collect();
        trigger.insert("mqtt".into(), Value::Array(mqtt));
    }
    root.insert("trigger".into(), Value::Table(trigger));
    root.insert("component".into(), Value::Table(components));
    toml::to_string(&root).expect("a TOML table serializes")
}

/// `[application.trigger.mqtt]`: templates travel unexpanded (a password
/// is a `{{ variable }}` the operator provides where the app runs, or the
/// value the manifest holds).
fn mqtt_settings(settings: &skiff_manifest::MqttSettings) -> Table {
    let mut t = Table::new();
    if let Some(a) = &settings.address {
        t.insert("address".into(), a.clone().into());
    }
    if let Some(u) = &settings.username {
        t.insert("username".into(), u.clone().into());
    }
    if let Some(p) = &settings.password {
        t.insert("password".into(), p.clone().into());
    }
    t.insert(
        "keep_alive_interval".into(),
        i64::from(settings.keep_alive).into(),
    );
    t
}

/// Every (host file, guest path) pair of a component's mounts, directories walked.
fn static_files(id: &str, mounts: &[skiff_manifest::FileMount]) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for m in mounts {
        let meta = std::fs::metadata(&m.source).with_context(|| {
            format!(
                "could not read file `{}` of component `{id}`",
                m.source.display()
            )
        })?;
        if meta.is_dir() {
            walk(&m.source, &m.destination, &mut out)?;
        } else {
            out.push((m.source.clone(), m.destination.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, guest: &str, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read directory `{}`", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("could not read directory `{}`", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = format!("{}/{name}", guest.trim_end_matches('/'));
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("could not read `{}`", path.display()))?;
        if meta.is_dir() {
            walk(&path, &child, out)?;
        } else if meta.is_file() {
            out.push((path, child));
        }
    }
    Ok(())
}

/// A reproducible tar of `files` at their guest paths (no times, owners or modes
/// beyond 0644), so the same files always make the same digest.
fn files_tar(id: &str, files: &[(PathBuf, String)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (host, guest) in files {
        let data = std::fs::read(host).with_context(|| {
            format!(
                "could not read file `{}` of component `{id}`",
                host.display()
            )
        })?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, guest.trim_start_matches('/'), data.as_slice())
            .with_context(|| format!("could not add `{guest}` to the files tar of `{id}`"))?;
    }
    builder
        .into_inner()
        .with_context(|| format!("could not build the files tar of `{id}`"))
}

/// Writes the app of an artifact into `staging` (to be renamed to `final_dir`;
/// they may be the same): a skiff.toml whose sources are the layers' blob
/// paths, and tar layers unpacked under `files/`. Every digest it names must be
/// a layer.
///
/// `layer_types` maps each layer digest of the artifact to its media type;
/// `blob_path` says where a layer's verified content is.
pub(crate) fn materialize_app(
    layer_types: &HashMap<&str, &str>,
    blob_path: &dyn Fn(&str) -> PathBuf,
    app_toml: &str,
    staging: &Path,
    final_dir: &Path,
) -> Result<()> {
    let mut root: Table =
        toml::from_str(app_toml).context("the app manifest layer is not valid TOML")?;
    let components = root
        .get_mut("component")
        .and_then(Value::as_table_mut)
        .context("the app manifest layer has no [component] table")?;
    for (id, component) in components.iter_mut() {
        let table = component
            .as_table_mut()
            .with_context(|| format!("`component.{id}` is not a table"))?;
        let source = table
            .get("source")
            .and_then(Value::as_str)
            .with_context(|| format!("`component.{id}.source` is missing"))?
            .to_string();
        let kind = layer_types.get(source.as_str()).with_context(|| {
            format!(
                "`component.{id}.source` names `{source}`, which is not a layer of the artifact"
            )
        })?;
        ensure!(
            *kind == media_types::WASM_LAYER,
            "`component.{id}.source` names layer `{source}` of type `{kind}`, not `{}`",
            media_types::WASM_LAYER
        );
        table.insert("source".into(), path_value(&blob_path(&source))?);
        let Some(files) = table.get_mut("files").and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, entry) in files.iter_mut().enumerate() {
            let entry = entry
                .as_table_mut()
                .with_context(|| format!("`component.{id}.files[{i}]` is not a table"))?;
            let digest = entry
                .get("source")
                .and_then(Value::as_str)
                .with_context(|| format!("`component.{id}.files[{i}].source` is missing"))?
                .to_string();
            let kind = layer_types.get(digest.as_str()).with_context(|| {
                format!("`component.{id}.files[{i}]` names `{digest}`, which is not a layer of the artifact")
            })?;
            let path = if *kind == media_types::FILES_TAR_LAYER {
                let rel = PathBuf::from("files").join(id).join(i.to_string());
                unpack(&blob_path(&digest), &staging.join(&rel)).with_context(|| {
                    format!("could not unpack files layer `{digest}` of component `{id}`")
                })?;
                final_dir.join(rel)
            } else {
                blob_path(&digest)
            };
            entry.insert("source".into(), path_value(&path)?);
        }
    }
    let text = toml::to_string(&root).context("could not write the app manifest")?;
    std::fs::write(staging.join("skiff.toml"), text).context("could not write skiff.toml")?;
    Ok(())
}

/// Unpacks a verified tar, refusing anything but plain files and directories.
fn unpack(tar_path: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest)?;
    let file = std::fs::File::open(tar_path)?;
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let path = entry.path()?.into_owned();
        if !(kind.is_file() || kind.is_dir()) {
            bail!(
                "entry `{}` is not a plain file or directory",
                path.display()
            );
        }
        // `unpack_in` refuses paths that leave `dest`.
        ensure!(
            entry.unpack_in(dest)?,
            "entry `{}` points outside the files directory",
            path.display()
        );
    }
    Ok(())
}

fn path_value(path: &Path) -> Result<Value> {
    let s = path
        .to_str()
        .with_context(|| format!("cache path `{}` is not UTF-8", path.display()))?;
    Ok(s.to_string().into())
}

/// The skiff.toml serving a single pulled component at `/...`.
pub(crate) fn component_manifest(id: &str, wasm: &Path) -> Result<String> {
    let source = path_value(wasm)?;
    let source = source.as_str().expect("path_value makes a string");
    Ok(skiff_manifest::single::component_manifest(id, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An app with cron triggers (a templated expression, an inline
    /// component) beside HTTP and messaging ones comes back from its layers
    /// with the same triggers.
    #[test]
    fn cron_triggers_round_trip() -> Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("tick.wasm"), b"\0asm tick")?;
        std::fs::write(dir.path().join("api.wasm"), b"\0asm api")?;
        std::fs::write(
            dir.path().join("skiff.toml"),
            r#"skiff_manifest_version = 1
[application]
name = "clock"
[variables]
every = { default = "*/5" }
[[trigger.http]]
route = "/..."
component = "api"
[[trigger.http]]
route = "/old"
static_response = { status_code = 301, headers = { location = "/new" }, body = "moved" }
[[trigger.cron]]
cron_expression = "1/2 * * * * *"
component = "tick"
[[trigger.cron]]
cron_expression = "{{ every }} * * * *"
component = { source = "tick.wasm", environment = { MODE = "fail" } }
[[trigger.messaging]]
subject = "orders.>"
component = "api"
[component.api]
source = "api.wasm"
blob_stores = ["media"]
[component.tick]
source = "tick.wasm"
environment = { MODE = "ok" }
"#,
        )?;
        let app = skiff_manifest::load(dir.path())?;
        let layers = app_layers(&app)?;
        let blobs = tempfile::tempdir()?;
        let mut types = HashMap::new();
        let digests: Vec<String> = layers.iter().map(Layer::digest).collect();
        for (layer, digest) in layers.iter().zip(&digests) {
            std::fs::write(blobs.path().join(digest), &layer.data)?;
            types.insert(digest.as_str(), layer.media_type);
        }
        let app_toml = std::str::from_utf8(&layers[0].data)?;
        let out = tempfile::tempdir()?;
        let blob_path = |digest: &str| blobs.path().join(digest);
        materialize_app(&types, &blob_path, app_toml, out.path(), out.path())?;
        let pulled = skiff_manifest::load(out.path())?;
        assert_eq!(pulled.cron_triggers.len(), 2);
        for (a, b) in app.cron_triggers.iter().zip(&pulled.cron_triggers) {
            assert_eq!((&a.expression, &a.component), (&b.expression, &b.component));
        }
        assert_eq!(
            pulled.cron_triggers[1].expression, "{{ every }} * * * *",
            "templates travel unexpanded"
        );
        let inline = &pulled.components["cron-trigger1-component"];
        assert_eq!(inline.environment["MODE"], "fail");
        assert_eq!(pulled.components["tick"].environment["MODE"], "ok");
        assert_eq!(pulled.http_triggers[0].route, app.http_triggers[0].route);
        assert_eq!(
            pulled.http_triggers[1].static_response, app.http_triggers[1].static_response,
            "a static response travels whole"
        );
        assert_eq!(pulled.messaging_triggers.len(), 1);
        assert_eq!(
            pulled.components["api"].blob_store.as_deref(),
            Some("media"),
            "the blob-store grant travels"
        );
        Ok(())
    }

    /// An app with MQTT triggers (app-level settings with templates, a
    /// trigger's own address, an inline component) comes back from its
    /// layers with the same triggers and settings.
    #[test]
    fn mqtt_triggers_round_trip() -> Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("sub.wasm"), b"\0asm sub")?;
        std::fs::write(
            dir.path().join("skiff.toml"),
            r#"skiff_manifest_version = 1
[application]
name = "sensors"
[variables]
password = { required = true, secret = true }
room = { default = "kitchen" }
[application.trigger.mqtt]
address = "mqtts://broker.example:8883"
username = "reader"
password = "{{ password }}"
keep_alive_interval = "45"
[[trigger.mqtt]]
topic = "rooms/{{ room }}/#"
qos = "1"
component = "sub"
[[trigger.mqtt]]
topic = "alerts"
address = "mqtt://127.0.0.1:1884"
component = { source = "sub.wasm", environment = { MODE = "alert" } }
[component.sub]
source = "sub.wasm"
"#,
        )?;
        let app = skiff_manifest::load(dir.path())?;
        let layers = app_layers(&app)?;
        let blobs = tempfile::tempdir()?;
        let mut types = HashMap::new();
        let digests: Vec<String> = layers.iter().map(Layer::digest).collect();
        for (layer, digest) in layers.iter().zip(&digests) {
            std::fs::write(blobs.path().join(digest), &layer.data)?;
            types.insert(digest.as_str(), layer.media_type);
        }
        let app_toml = std::str::from_utf8(&layers[0].data)?;
        assert!(
            app_toml.contains("{{ password }}"),
            "the password travels as its template:\n{app_toml}"
        );
        let out = tempfile::tempdir()?;
        let blob_path = |digest: &str| blobs.path().join(digest);
        materialize_app(&types, &blob_path, app_toml, out.path(), out.path())?;
        let pulled = skiff_manifest::load(out.path())?;
        assert_eq!(pulled.mqtt, app.mqtt);
        assert_eq!(pulled.mqtt.keep_alive, 45);
        assert_eq!(pulled.mqtt_triggers.len(), 2);
        for (a, b) in app.mqtt_triggers.iter().zip(&pulled.mqtt_triggers) {
            assert_eq!(
                (&a.topic, a.qos, &a.address, &a.component),
                (&b.topic, b.qos, &b.address, &b.component)
            );
        }
        assert_eq!(
            pulled.components["mqtt-trigger1-component"].environment["MODE"],
            "alert"
        );
        Ok(())
    }
}
