//! The validated application model every other crate consumes.
//!
//! Both `skiff.toml` and Spin's `spin.toml` load into these types; nothing
//! downstream knows which file an app came from except through [`App::kind`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Which manifest format an [`App`] was loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// `skiff_manifest_version = 1`.
    Skiff,
    /// `spin_manifest_version = 2`.
    Spin,
}

/// A loaded, validated application.
#[derive(Debug, Clone)]
pub struct App {
    /// Absolute path of the manifest file.
    pub manifest_path: PathBuf,
    /// Absolute directory the manifest lives in; relative paths resolve here.
    pub base_dir: PathBuf,
    /// Format of the manifest.
    pub kind: ManifestKind,
    /// `[application] name`.
    pub name: String,
    /// `[application] version`.
    pub version: Option<String>,
    /// `[application] description`.
    pub description: Option<String>,
    /// `[application] authors` (Spin) — empty when absent.
    pub authors: Vec<String>,
    /// Top-level `[variables]`.
    pub variables: BTreeMap<String, Variable>,
    /// `[[trigger.http]]` entries, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[[trigger.redis]]` entries, in manifest order.
    pub redis_triggers: Vec<RedisTrigger>,
    /// `[application.trigger.redis] address`: the Redis server for redis triggers
    /// that set no `address` of their own (may contain `{{ variable }}` templates).
    pub redis_address: Option<String>,
    /// `[[trigger.messaging]]` entries (skiff.toml only), in manifest order.
    pub messaging_triggers: Vec<MessagingTrigger>,
    /// `[[trigger.cron]]` entries (skiff.toml and spin.toml), in manifest order.
    pub cron_triggers: Vec<CronTrigger>,
    /// `[[trigger.mqtt]]` entries (skiff.toml and spin.toml), in manifest order.
    pub mqtt_triggers: Vec<MqttTrigger>,
    /// `[application.trigger.mqtt]`: the broker, login and keep-alive of the
    /// MQTT triggers (defaults when the table is absent).
    pub mqtt: MqttSettings,
    /// `[component.ID]` tables, keyed by id.
    pub components: BTreeMap<String, Component>,
}

/// A top-level application variable (`[variables] name = { ... }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// `default = "…"`.
    pub default: Option<String>,
    /// `required = true`.
    pub required: bool,
    /// `secret = true`: never printed in logs or errors.
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The parsed `route`.
    pub route: Route,
    /// The component id this trigger runs; empty for a trigger that answers
    /// with its `static_response`.
    pub component: String,
    /// `static_response = { … }` (Spin's key): what the host answers on the
    /// route itself, with no component.
    pub static_response: Option<StaticResponse>,
    /// 1-based line of the trigger's `route` key in the manifest (for errors found later).
    pub line: usize,
}

/// A `[[trigger.http]]`'s `static_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticResponse {
    /// `status_code` (default `200`).
    pub status: u16,
    /// `headers = { name = "value" }`, in manifest order.
    pub headers: Vec<(String, String)>,
    /// `body = "…"` (none: an empty body).
    pub body: Option<String>,
}

/// One `[[trigger.redis]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTrigger {
    /// `channel = "…"` to subscribe to (may contain `{{ variable }}` templates).
    pub channel: String,
    /// The trigger's own `address = "redis://…"`; `None` means [`App::redis_address`]
    /// (loading guarantees one of the two is set).
    pub address: Option<String>,
    /// The component id this trigger runs.
    pub component: String,
    /// 1-based line of the trigger's `channel` key in the manifest.
    pub line: usize,
}

impl RedisTrigger {
    /// The address to subscribe at: the trigger's own, else the application's.
    pub fn effective_address<'a>(&'a self, app: &'a App) -> Option<&'a str> {
        self.address.as_deref().or(app.redis_address.as_deref())
    }
}

/// One `[[trigger.messaging]]` entry (skiff.toml only): a subscription whose
/// messages each run the component once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingTrigger {
    /// `subject = "…"` to subscribe to, in NATS syntax: `.`-separated tokens, where
    /// a `*` token matches any one token and a final `>` token matches one or more
    /// (`orders.*.created`, `events.>`). May contain `{{ variable }}` templates;
    /// loading checks the syntax only of subjects without one.
    pub subject: String,
    /// `queue_group = "…"`: the subscribers in one queue group share the messages,
    /// each message going to one of them; `None` means this trigger gets every message.
    pub queue_group: Option<String>,
    /// `broker = "…"`: label of the message broker to subscribe at (`"default"`
    /// when not set). This is the trigger's own grant: the component's
    /// [`Component::message_brokers`] need not list it.
    pub broker: String,
    /// The component id this trigger runs.
    pub component: String,
    /// 1-based line of the trigger's `subject` key in the manifest.
    pub line: usize,
}

/// One `[[trigger.cron]]` entry (Spin's cron trigger plugin's syntax): a
/// schedule that runs the component once per time it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTrigger {
    /// `cron_expression = "…"`, verbatim: 6 fields (`second minute hour
    /// day-of-month month day-of-week`, Spin's form), 7 (and a year), 5 (a
    /// crontab line, at second 0) or a shorthand (`@daily` …); see
    /// [`crate::cron`]. Times are UTC. May contain `{{ variable }}`
    /// templates; loading checks only expressions without one, which
    /// [`crate::cron::Schedule::parse`] reads once expanded.
    pub expression: String,
    /// The component id this trigger runs.
    pub component: String,
    /// 1-based line of the trigger's `cron_expression` key in the manifest.
    pub line: usize,
}

/// One `[[trigger.mqtt]]` entry (Spin's MQTT trigger plugin's syntax): a
/// subscription whose messages each run the component once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTrigger {
    /// `topic = "…"`: the topic filter to subscribe to, MQTT wildcards
    /// allowed (`+` one level, a final `#` the rest). May contain
    /// `{{ variable }}` templates; loading checks only topics without one,
    /// which [`crate::mqtt::check_topic_filter`] checks once expanded.
    pub topic: String,
    /// `qos = "1"` (a string, as the plugin writes it, or an integer): the
    /// subscription's quality of service; QoS 0 when not set.
    pub qos: crate::mqtt::Qos,
    /// The trigger's own `address = "mqtt://…"` (skiff.toml only); `None`
    /// means [`MqttSettings::address`] (loading guarantees one of the two).
    pub address: Option<String>,
    /// The component id this trigger runs.
    pub component: String,
    /// 1-based line of the trigger's `topic` key in the manifest.
    pub line: usize,
}

impl MqttTrigger {
    /// The broker to subscribe at: the trigger's own, else the application's.
    pub fn effective_address<'a>(&'a self, app: &'a App) -> Option<&'a str> {
        self.address.as_deref().or(app.mqtt.address.as_deref())
    }
}

/// `[application.trigger.mqtt]`: what every MQTT trigger of the app shares.
/// `address`, `username` and `password` may contain `{{ variable }}` templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSettings {
    /// `address = "mqtt://host[:port]"` (or `mqtts://` for TLS).
    pub address: Option<String>,
    /// `username = "…"`; `None` (or empty) connects anonymously.
    pub username: Option<String>,
    /// `password = "…"`, sent with `username`.
    pub password: Option<String>,
    /// `keep_alive_interval = "30"` (seconds, a string or an integer; 0
    /// turns keep-alive pings off). Defaults to
    /// [`MqttSettings::DEFAULT_KEEP_ALIVE`].
    pub keep_alive: u16,
}

impl MqttSettings {
    /// The keep-alive interval when none is set, in seconds.
    pub const DEFAULT_KEEP_ALIVE: u16 = 30;
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            address: None,
            username: None,
            password: None,
            keep_alive: Self::DEFAULT_KEEP_ALIVE,
        }
    }
}

/// A parsed HTTP route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/exact/path` — matches only that path. Segments may be `:name` parameters.
    Exact(String),
    /// `/prefix/...` — matches the prefix and everything below it. The string is the
    /// prefix without the trailing `/...` (`""` for the catch-all `/...`).
    Wildcard(String),
    /// `route = { private = true }` (Spin): reachable only through service chaining.
    Private,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Exact(p) => f.write_str(p),
            Route::Wildcard(p) => write!(f, "{p}/..."),
            Route::Private => f.write_str("(private)"),
        }
    }
}

/// A `[component.ID]` table.
#[derive(Debug, Clone)]
pub struct Component {
    /// The component id (the `ID` in `[component.ID]`). A component written inline in
    /// a trigger (`component = { source = "…" }`) gets a generated id, as Spin does:
    /// `<trigger-id>-component` (e.g. `http-trigger1-component`), else `inline-componentN`.
    pub id: String,
    /// Dotted manifest path of the component's table, for error messages:
    /// `component.ID`, or e.g. `trigger.http[0].component` for an inline component.
    pub key: String,
    /// `description = "…"`.
    pub description: Option<String>,
    /// Absolute path of the `.wasm` file (`source = "…"`, resolved against the manifest dir).
    pub source: PathBuf,
    /// 1-based line of the `source` key (so late errors, e.g. a missing file after a build, can name it).
    pub source_line: usize,
    /// `files = [...]`, globs expanded (minus `exclude_files` matches), read-only in the guest.
    /// `{ source, destination }` entries stay one mount each (a file or a whole directory).
    pub files: Vec<FileMount>,
    /// `environment = { KEY = "value" }`.
    pub environment: BTreeMap<String, String>,
    /// `allowed_outbound_hosts = [...]`, verbatim (templates unexpanded); in spin.toml, entries
    /// of the deprecated `allowed_http_hosts` are appended in this syntax.
    pub allowed_outbound_hosts: Vec<String>,
    /// `key_value_stores = [...]`.
    pub key_value_stores: Vec<String>,
    /// `sqlite_databases = [...]`.
    pub sqlite_databases: Vec<String>,
    /// `message_brokers = [...]` (skiff.toml only): labels of the message brokers the
    /// component may use, e.g. to publish. Messaging triggers need no entry here for
    /// the broker they subscribe at (see [`MessagingTrigger::broker`]).
    pub message_brokers: Vec<String>,
    /// `blob_stores = ["LABEL"]` (skiff.toml only): the label of the one blob store
    /// the component may use (`wasi:blobstore` names no store, so every container
    /// it opens lives there); `None` without the key or with an empty list.
    pub blob_store: Option<String>,
    /// `variables = { name = "template {{ var }}" }`, verbatim.
    pub variables: BTreeMap<String, String>,
    /// `[component.ID.build]`.
    pub build: Option<Build>,
    /// Effective limits: component `[component.ID.limits]` over `[application.limits]` over built-in defaults.
    pub limits: Limits,
    /// `[component.ID.dependencies]`: components composed with this one at
    /// load, each satisfying some of its imports.
    pub dependencies: Vec<crate::dependency::Dependency>,
}

/// One file mapping into a component's filesystem (read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMount {
    /// Absolute host path: a file or a directory.
    pub source: PathBuf,
    /// Absolute guest path (starts with `/`) where `source` appears.
    pub destination: String,
}

/// `[component.ID.build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// `command = "…"`, run through the shell. Spin's list form
    /// (`command = ["npm install", "npm run build"]`) is joined with ` && `.
    pub command: String,
    /// Absolute working directory (`workdir`, relative to the manifest dir; default the manifest dir).
    pub workdir: PathBuf,
    /// `watch = [...]`: glob patterns, relative to `workdir`, whose changes call for a rebuild.
    pub watch: Vec<String>,
}

/// Resource limits for one component's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum linear memory of one instance, bytes (`memory = "64MiB"`).
    pub memory: u64,
    /// Wall-clock budget for one request (`timeout = "5s"`).
    pub timeout: Duration,
    /// Instances of this component running at once (`max_concurrency`); `None` = bounded only by the host.
    pub max_concurrency: Option<u32>,
    /// Largest accepted request body, bytes (`max_body = "10MiB"`).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 128 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_concurrency: None,
            max_body: 10 * 1024 * 1024,
        }
    }
}
