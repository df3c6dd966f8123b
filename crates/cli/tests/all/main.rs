//! Integration tests of the `skiff` binary: the real executable, driven as a
//! user would, with real guest components from `crates/test-programs`.
//!
//! - `run`: `skiff run` — commands, grants (env, dirs), traps and limits;
//! - `http`: `skiff up` — routing, the request a guest sees, limits, file
//!   grants, guest logs and isolation between components;
//! - `manifest`: how `skiff up` reports manifest errors;
//! - `cache`: the AOT cache across restarts, corruption and `skiff compile`;
//! - `shutdown`: graceful shutdown on SIGTERM/SIGINT;
//! - `tls`: inbound TLS (`--tls-cert`/`--tls-key`): HTTPS over HTTP/1.1 and
//!   HTTP/2, the scheme guests see, certificate renewal without a restart,
//!   clear-text and stalled clients, bad certificate files;
//! - `mtls`: inbound mutual TLS (`--tls-client-ca`, `--tls-client-auth`):
//!   clients refused or served by their certificates, the
//!   `x-forwarded-client-cert` header guests see (a forged one stripped), the
//!   CA file reloaded without a restart, bad CA files;
//! - `staged`: a start served on demand while the instance pool is reserved,
//!   then moved onto it;
//! - `blob`: blob storage (`wasi:blobstore`) on every backend (the embedded
//!   default, `file_system`, `memory`, `nats`), durability across a restart, grants,
//!   `max_object_size`, the live swap and bad runtime configs;
//! - `kv`: key-value on every backend (memory, embedded, a real Redis, a
//!   real NATS with JetStream),
//!   grants, isolation, durability, the live swap, Redis down and back, and
//!   bad runtime configs;
//! - `variables`: providers and their order, templates, each interface's
//!   errors, required variables and secrets;
//! - `spin`: a Spin app (`spin.toml`, a spin-sdk guest) and the request
//!   headers and response shape Spin apps rely on;
//! - `spin_app`: Spin apps' capabilities from a `spin.toml` with Spin's
//!   runtime config: key-value, SQLite, variables (spin-sdk and raw
//!   `fermyon:spin@2.0.0` guests), outbound HTTP/Redis/MQTT grants, the Redis trigger;
//! - `new`: `skiff new`'s templates and `skiff add`'s component built and run as
//!   their `Next:` lines say (a real `cargo build` for `wasm32-wasip2`), and what
//!   they refuse;
//! - `oci`: `skiff push`/`pull`/`up REF`/`registry login` against a real
//!   registry (`docker-registry`, with and without basic auth): artifact
//!   formats, tags and digests, tampered blobs, and `wkg` interop both ways;
//! - `oci_token`: the same registry in bearer-token mode, with a token server
//!   in the test process (`oci_token_server`): login, push, pull, `up REF`,
//!   wrong passwords and tokens without push;
//! - `outbound_limits`: the operator's `[outbound_http]` limits (response
//!   size, timeouts, concurrency) and their live reload;
//! - `outbound_pool`: kept-alive outbound connections (`connection_pooling`),
//!   per component, over plain HTTP and TLS, switched by a reload;
//! - `outbound_h2c`: outbound clear-text HTTP/2 with prior knowledge
//!   (`SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`, `h2c_prior_knowledge`) to an
//!   HTTP/2-only server: one shared connection, reloads, malformed entries;
//! - `sql`: SQL on three backends (embedded SQLite, a real PostgreSQL, a
//!   real MariaDB) by one suite, and PostgreSQL going down and coming back;
//! - `mysql`: the MySQL guest's own tests — every column type in both
//!   protocols, pooled connections reset between requests, errors, TLS, the
//!   server going down and coming back;
//! - `outbound_redis`, `mqtt`: outbound Redis and MQTT against a real
//!   `redis-server` and `mosquitto`, granted and denied;
//! - `messaging`: `wasi:messaging` and `wasmcloud:messaging` guests and the
//!   messaging trigger on both backends (the embedded broker, a real
//!   `nats-server`) by one suite: deliveries, requests and replies, grants,
//!   a trapping handler, NATS down at start, bad setups;
//! - `trigger_redis`: the Redis trigger — deliveries, a trapping handler,
//!   Redis going away and back, beside HTTP;
//! - `deps`: component dependencies (`[component.ID.dependencies]`) from
//!   files, other components, URLs and a real registry; configuration
//!   denied or inherited; composed by `skiff push`; reloaded by `--watch`;
//!   errors naming the manifest key;
//! - `cron`: the cron trigger (Spin's cron plugin's `handle-cron-event`) —
//!   every-second runs with their timestamps, skiff.toml and spin.toml apps,
//!   failing, trapping, slow and busy handlers, bad expressions;
//! - `mqtt_trigger`: the MQTT trigger (Spin's MQTT plugin's `handle-message`)
//!   against a real `mosquitto` — QoS 0 and 1, wildcards and the topic
//!   guests see, templates, logins, TLS, the broker restarting, failing and
//!   trapping handlers, redelivery after a kill, bad setups;
//! - `watch`: `skiff up --watch` — reloads on manifest, source and build
//!   `watch` file changes, kept-alive connections and requests in progress
//!   across a reload, versions that fail to load, variables, and the
//!   triggers beside HTTP restarting;
//! - `telemetry`: OpenTelemetry traces exported to a real OTLP receiver —
//!   `traceparent` in and out (other services, service chaining), host-call
//!   spans, errors, sampling, every OTLP protocol, retries, the flush at
//!   shutdown, a collector that is down, bad variables;
//! - `logging`: guest logs by `wasi:logging` — levels and the filter, the
//!   context, `skiff run`, and OTLP export with severity and trace;
//! - `examples`: the apps in `examples/` (`kv-counter`, `todo`), built with
//!   `skiff build` and served as their READMEs say.
//!
//! Every process listens on port 0 and gets a `SKIFF_CACHE_DIR` the tests own:
//! its own temporary one, except the `kv` and `variables` servers, which share
//! one under cargo's target tmp dir (`harness::shared_cache`) so each guest
//! compiles once.

mod blob;
mod cache;
mod client_tls;
mod cron;
mod deps;
mod examples;
mod guest_output;
mod harness;
mod http;
mod kv;
mod logging;
mod manifest;
mod messaging;
mod metrics;
mod mosquitto_server;
mod mounts;
mod mqtt;
mod mqtt_trigger;
mod mtls;
mod mysql;
mod new;
mod oci;
mod oci_registry;
mod oci_token;
mod oci_token_server;
mod outbound_h2c;
mod outbound_limits;
mod outbound_pool;
mod outbound_redis;
mod pg_server;
mod redis_server;
mod redis_tls;
mod run;
mod shutdown;
mod single;
mod spin;
mod spin_app;
mod sql;
mod staged;
mod telemetry;
mod tls;
mod trigger_redis;
mod variables;
mod watch;

/// Every guest of `crates/test-programs` has a host test named after it
/// (`run::cli_*`, `http::http_*`, `kv::kv_*`, `variables::vars_*`): a new
/// guest without one fails to compile. (`kv::kv_wasi`, `kv::kv_spin2` and
/// `kv::kv_spin3` are the suite functions `kv::{memory,embedded,redis,nats}::*` run;
/// `blob::blob_wasi` the one `blob::{embedded,file_system,memory,nats}::blob_wasi` run.)
mod guest_coverage {
    macro_rules! cli_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::run::$guest as _;
        };
    }
    test_programs_artifacts::foreach_cli!(cli_guest_has_a_test);

    macro_rules! http_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::http::$guest as _;
        };
    }
    test_programs_artifacts::foreach_http!(http_guest_has_a_test);

    macro_rules! deps_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::deps::$guest as _;
        };
    }
    test_programs_artifacts::foreach_deps!(deps_guest_has_a_test);

    macro_rules! kv_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::kv::$guest as _;
        };
    }
    test_programs_artifacts::foreach_kv!(kv_guest_has_a_test);

    macro_rules! vars_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::variables::$guest as _;
        };
    }
    test_programs_artifacts::foreach_vars!(vars_guest_has_a_test);

    macro_rules! trigger_guest_has_a_test {
        (trigger_cron) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::cron::trigger_cron as _;
        };
        (trigger_mqtt) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::mqtt_trigger::trigger_mqtt as _;
        };
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::trigger_redis::$guest as _;
        };
    }
    test_programs_artifacts::foreach_trigger!(trigger_guest_has_a_test);

    macro_rules! spin_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::spin_app::$guest as _;
        };
    }
    test_programs_artifacts::foreach_spin!(spin_guest_has_a_test);

    macro_rules! messaging_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::messaging::$guest as _;
        };
    }
    test_programs_artifacts::foreach_messaging!(messaging_guest_has_a_test);

    macro_rules! mysql_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::mysql::$guest as _;
        };
    }
    test_programs_artifacts::foreach_mysql!(mysql_guest_has_a_test);

    macro_rules! blob_guest_has_a_test {
        ($guest:ident) => {
            #[allow(unused_imports, reason = "only checks that the test exists")]
            use crate::blob::$guest as _;
        };
    }
    test_programs_artifacts::foreach_blob!(blob_guest_has_a_test);
}
