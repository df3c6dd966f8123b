//! Blob storage through `skiff up`: the `blob_wasi` guest
//! (`wasi:blobstore@0.2.0-draft`) on every backend by one suite — the
//! embedded default (no runtime config: a directory under `.skiff/`), a
//! `file_system` store at a configured path, `memory` and `nats` (a real
//! `nats-server -js`, read back by a client of the test's own) — each
//! checking that the backend itself holds the objects; then a store surviving a
//! restart, the grant (none: every call's error names it), labels kept
//! apart, `max_object_size`, the live swap of a store, and bad runtime
//! configs.
//!
//! The guest answers `200 text/plain` (see its `//!` docs): an interface
//! error as `error: <message>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use skiff_test_support::guest::enc;
use skiff_test_support::nats_server::NatsServer;
use tempfile::TempDir;
use test_programs_artifacts::BLOB_WASI_COMPONENT;

use crate::harness::{
    AppDir, Server, full, get, post, replace_file, shared_cache, tempdir, toml_path, up_fails,
};

/// How long a reload may take to show its effect.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// The app: `blob_wasi` as component `api` (granted `default`), `other`
/// (granted `other`) and `none` (no grant), each at `/ID`.
fn manifest() -> String {
    let component = |id: &str, grant: &str| {
        format!(
            "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = {}\n{grant}",
            toml_path(BLOB_WASI_COMPONENT)
        )
    };
    format!(
        "skiff_manifest_version = 1\n[application]\nname = \"blobs\"\n{}{}{}",
        component("api", "blob_stores = [\"default\"]\n"),
        component("other", "blob_stores = [\"other\"]\n"),
        component("none", "")
    )
}

/// `skiff up` of [`manifest`] in `dir`, with `runtime_config` if given.
fn up(dir: &AppDir, runtime_config: Option<&str>) -> Result<(Server, Option<PathBuf>)> {
    let rc = runtime_config
        .map(|text| dir.write("runtime-config.toml", text))
        .transpose()?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        if let Some(rc) = &rc {
            cmd.arg("--runtime-config").arg(rc);
        }
    })?;
    Ok((server, rc))
}

/// A query string from pairs, values percent-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET /ID?query`; the guest must answer 200. Returns the body bytes.
async fn call_bytes(server: &Server, id: &str, pairs: &[(&str, &str)]) -> Result<Vec<u8>> {
    let path = format!("/{id}?{}", query(pairs));
    let resp = get(&server.url(&path)).await?;
    ensure!(
        resp.status == 200,
        "GET {path}: {} {}",
        resp.status,
        resp.text()
    );
    Ok(resp.body.to_vec())
}

/// `GET /ID?query` as text.
async fn call(server: &Server, id: &str, pairs: &[(&str, &str)]) -> Result<String> {
    Ok(String::from_utf8_lossy(&call_bytes(server, id, pairs).await?).into_owned())
}

/// `POST /ID?op=put&…` with `body`; returns the guest's answer.
async fn put(server: &Server, id: &str, pairs: &[(&str, &str)], body: Vec<u8>) -> Result<String> {
    let path = format!("/{id}?op=put&{}", query(pairs));
    let resp = post(&server.url(&path), full(body)).await?;
    ensure!(
        resp.status == 200,
        "POST {path}: {} {}",
        resp.status,
        resp.text()
    );
    Ok(resp.text())
}

/// The names `list` answers.
async fn list(server: &Server, id: &str, container: &str, page: &str) -> Result<Vec<String>> {
    let json = call(
        server,
        id,
        &[("op", "list"), ("c", container), ("page", page)],
    )
    .await?;
    serde_json::from_str(&json).map_err(|e| anyhow::anyhow!("{e}: {json}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------
// The backend suite
// ---------------------------------------------------------------------------

/// Where label `default` keeps its objects in a suite run.
pub(crate) enum Backend {
    /// No runtime config: the directory under the state dir.
    Embedded,
    /// `type = "file_system"` at this directory.
    FileSystem(TempDir),
    /// `type = "memory"`.
    Memory,
    /// `type = "nats"` on this server (JetStream on).
    Nats(NatsServer),
}

impl Backend {
    fn embedded() -> Result<Self> {
        Ok(Backend::Embedded)
    }

    fn file_system() -> Result<Self> {
        Ok(Backend::FileSystem(tempdir()?))
    }

    fn memory() -> Result<Self> {
        Ok(Backend::Memory)
    }

    fn nats() -> Result<Self> {
        Ok(Backend::Nats(NatsServer::start_jetstream()?))
    }

    fn runtime_config(&self) -> Option<String> {
        match self {
            Backend::Embedded => None,
            Backend::FileSystem(dir) => Some(format!(
                "[blob_store.default]\ntype = \"file_system\"\npath = {}\n",
                toml_path(dir.path())
            )),
            Backend::Memory => Some("[blob_store.default]\ntype = \"memory\"\n".into()),
            Backend::Nats(nats) => Some(format!(
                "[blob_store.default]\ntype = \"nats\"\nurl = \"{}\"\n",
                nats.url()
            )),
        }
    }

    /// Checks that this backend holds object file `file` (a path relative to
    /// the store's root, as the file-system store names it) with `body`, and
    /// that no other place got it.
    async fn check_holds(&self, app: &AppDir, file: &str, body: &[u8]) -> Result<()> {
        let embedded = app.path().join(".skiff/blob/default");
        let root = match self {
            Backend::Embedded => embedded.clone(),
            Backend::FileSystem(dir) => dir.path().to_path_buf(),
            Backend::Memory => {
                ensure!(
                    !app.path().join(".skiff/blob").exists(),
                    "the memory store wrote under .skiff/blob"
                );
                return Ok(());
            }
            Backend::Nats(nats) => {
                // Container `C` of app `blobs`'s label `default` is bucket
                // `skiff-blobs-default_C`; the object has its own name.
                let (container, object) = file.split_once('/').expect("container/object");
                let object = percent_decode(object)?;
                let bucket = format!("skiff-blobs-default_{container}");
                let stored = nats_object(nats, &bucket, &object).await?;
                ensure!(
                    stored == body,
                    "nats bucket {bucket} holds {} bytes for {object:?}, not the object",
                    stored.len()
                );
                ensure!(
                    !app.path().join(".skiff/blob").exists(),
                    "the nats store wrote under .skiff/blob"
                );
                return Ok(());
            }
        };
        let path = root.join(file);
        ensure!(
            std::fs::read(&path)? == body,
            "{} does not hold the object",
            path.display()
        );
        if root != embedded {
            ensure!(!embedded.exists(), "the embedded default was used too");
        }
        Ok(())
    }
}

/// `%XX` escapes undone: the object name of a file-system store's file name.
fn percent_decode(file: &str) -> Result<String> {
    let bytes = file.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])?;
            out.push(u8::from_str_radix(hex, 16)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

/// Object `object` of JetStream object store `bucket`, read by a client of
/// the test's own.
async fn nats_object(nats: &NatsServer, bucket: &str, object: &str) -> Result<Vec<u8>> {
    use skiff_nats::async_nats;
    use tokio::io::AsyncReadExt as _;
    let client = async_nats::connect(nats.url()).await?;
    let store = async_nats::jetstream::new(client)
        .get_object_store(bucket)
        .await
        .with_context(|| format!("nats bucket {bucket}"))?;
    let mut found = store
        .get(object)
        .await
        .with_context(|| format!("object {object:?} of nats bucket {bucket}"))?;
    let mut bytes = Vec::new();
    found.read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// Runs [`blob_wasi`] once per backend: `blob::<backend>::blob_wasi`.
/// Anchor: ripgrep's `rgtest!`, which runs each test on both regex engines.
macro_rules! backend_suite {
    ($($backend:ident),* $(,)?) => {$(
        mod $backend {
            #[tokio::test(flavor = "multi_thread")]
            async fn blob_wasi() -> anyhow::Result<()> {
                super::blob_wasi(super::Backend::$backend()?).await
            }
        }
    )*};
}

backend_suite!(embedded, file_system, memory, nats);

/// Every `wasi:blobstore` function through `blob_wasi`, on `backend`.
pub(crate) async fn blob_wasi(backend: Backend) -> Result<()> {
    let app = AppDir::new()?;
    app.write("skiff.toml", manifest())?;
    let (server, _rc) = up(&app, backend.runtime_config().as_deref())?;
    let s = &server;

    // Containers.
    assert_eq!(
        call(s, "api", &[("op", "exists"), ("c", "photos")]).await?,
        "false"
    );
    assert_eq!(
        call(s, "api", &[("op", "get_container"), ("c", "photos")]).await?,
        "error: container `photos` does not exist"
    );
    assert_eq!(
        call(s, "api", &[("op", "create"), ("c", "photos")]).await?,
        "photos"
    );
    assert_eq!(
        call(s, "api", &[("op", "create"), ("c", "photos")]).await?,
        "photos"
    );
    assert_eq!(
        call(s, "api", &[("op", "exists"), ("c", "photos")]).await?,
        "true"
    );
    let info: serde_json::Value =
        serde_json::from_str(&call(s, "api", &[("op", "info"), ("c", "photos")]).await?)?;
    assert_eq!(info["name"], "photos");
    let created_at = info["created_at"].as_u64().unwrap();
    assert!(created_at.abs_diff(now()) < 120, "{info}");

    // Objects, both orders of `write-data`, read back whole and by range.
    let c = |op: &'static str| [("op", op), ("c", "photos")];
    assert_eq!(
        put(
            s,
            "api",
            &[("c", "photos"), ("o", "cat.txt")],
            b"meow".to_vec()
        )
        .await?,
        "ok"
    );
    assert_eq!(
        put(
            s,
            "api",
            &[("c", "photos"), ("o", "dog.txt"), ("order", "data_first")],
            b"woof!".to_vec()
        )
        .await?,
        "ok"
    );
    let obj = |op: &'static str, o: &'static str| [("op", op), ("c", "photos"), ("o", o)];
    assert_eq!(call(s, "api", &obj("get", "cat.txt")).await?, "meow");
    assert_eq!(call(s, "api", &obj("get", "dog.txt")).await?, "woof!");
    let range = |start: &'static str, end: &'static str| {
        [
            ("op", "get"),
            ("c", "photos"),
            ("o", "dog.txt"),
            ("start", start),
            ("end", end),
        ]
    };
    assert_eq!(call(s, "api", &range("1", "3")).await?, "oof", "inclusive");
    assert_eq!(call(s, "api", &range("4", "4")).await?, "!");
    assert_eq!(call(s, "api", &range("2", "1000")).await?, "of!", "clamped");
    assert_eq!(call(s, "api", &range("9", "20")).await?, "");
    assert_eq!(
        call(s, "api", &range("3", "2")).await?,
        "error: invalid range 3..=2 for object `dog.txt` in container `photos`: start is after end"
    );
    let mut size = range("1", "3");
    size[0].1 = "size";
    assert_eq!(call(s, "api", &size).await?, "3");
    assert_eq!(
        call(
            s,
            "api",
            &[
                ("op", "get"),
                ("c", "photos"),
                ("o", "dog.txt"),
                ("via", "stream")
            ]
        )
        .await?,
        "woof!"
    );
    assert_eq!(
        call(s, "api", &obj("get", "missing")).await?,
        "error: object `missing` does not exist in container `photos`"
    );
    let info: serde_json::Value =
        serde_json::from_str(&call(s, "api", &obj("object_info", "dog.txt")).await?)?;
    assert_eq!(info["name"], "dog.txt");
    assert_eq!(info["container"], "photos");
    assert_eq!(info["size"], 5);
    assert!(
        info["created_at"].as_u64().unwrap().abs_diff(now()) < 120,
        "{info}"
    );
    backend.check_holds(&app, "photos/cat.txt", b"meow").await?;

    // Names that are not file names.
    let odd = [
        "a/b/c.txt",
        "../../escape",
        "/etc/passwd",
        "späße 鍵",
        "..",
        ".hidden",
    ];
    for (i, name) in odd.iter().enumerate() {
        assert_eq!(
            put(
                s,
                "api",
                &[("c", "photos"), ("o", *name)],
                i.to_string().into()
            )
            .await?,
            "ok"
        );
    }
    for (i, name) in odd.iter().enumerate() {
        assert_eq!(
            call(s, "api", &[("op", "get"), ("c", "photos"), ("o", *name)]).await?,
            i.to_string()
        );
    }
    backend
        .check_holds(&app, "photos/a%2Fb%2Fc.txt", b"0")
        .await?;
    backend
        .check_holds(&app, "photos/%2E.%2F..%2Fescape", b"1")
        .await?;
    let mut expected: Vec<String> = odd.iter().map(|n| n.to_string()).collect();
    expected.extend(["cat.txt".to_string(), "dog.txt".to_string()]);
    expected.sort();
    assert_eq!(list(s, "api", "photos", "3").await?, expected);

    // Empty and large objects, through both ways of reading.
    assert_eq!(
        put(s, "api", &[("c", "photos"), ("o", "empty")], Vec::new()).await?,
        "ok"
    );
    assert_eq!(call(s, "api", &obj("get", "empty")).await?, "");
    assert_eq!(call(s, "api", &obj("size", "empty")).await?, "0");
    assert_eq!(call(s, "api", &obj("has", "empty")).await?, "true");
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(
        put(s, "api", &[("c", "photos"), ("o", "big")], big.clone()).await?,
        "ok"
    );
    ensure!(
        call_bytes(s, "api", &obj("get", "big")).await? == big,
        "big, read as a list"
    );
    ensure!(
        call_bytes(
            s,
            "api",
            &[
                ("op", "get"),
                ("c", "photos"),
                ("o", "big"),
                ("via", "stream")
            ]
        )
        .await?
            == big,
        "big, read from the stream"
    );
    backend.check_holds(&app, "photos/big", &big).await?;

    // Listing many names, in pages, and skipping.
    assert_eq!(
        call(s, "api", &[("op", "create"), ("c", "many")]).await?,
        "many"
    );
    let names: Vec<String> = (0..250).map(|i| format!("n/{i:03}")).collect();
    for name in &names {
        put(
            s,
            "api",
            &[("c", "many"), ("o", name.as_str())],
            b"x".to_vec(),
        )
        .await?;
    }
    assert_eq!(list(s, "api", "many", "7").await?, names);
    assert_eq!(list(s, "api", "many", "1000").await?, names);
    let skipped: serde_json::Value = serde_json::from_str(
        &call(
            s,
            "api",
            &[("op", "skip"), ("c", "many"), ("n", "240"), ("page", "4")],
        )
        .await?,
    )?;
    assert_eq!(skipped["skipped"], 240);
    assert_eq!(skipped["rest"], serde_json::json!(names[240..]));
    let skipped: serde_json::Value = serde_json::from_str(
        &call(s, "api", &[("op", "skip"), ("c", "many"), ("n", "1000")]).await?,
    )?;
    assert_eq!(skipped, serde_json::json!({"skipped": 250, "rest": []}));

    // Copy and move across containers.
    let copy = |op: &'static str, o: &'static str, to_c: &'static str, to_o: &'static str| {
        [
            ("op", op),
            ("c", "photos"),
            ("o", o),
            ("to_c", to_c),
            ("to_o", to_o),
        ]
    };
    assert_eq!(
        call(s, "api", &copy("copy", "cat.txt", "many", "cat copy")).await?,
        "ok"
    );
    assert_eq!(
        call(s, "api", &[("op", "get"), ("c", "many"), ("o", "cat copy")]).await?,
        "meow"
    );
    assert_eq!(
        call(s, "api", &copy("move", "dog.txt", "many", "dog/moved")).await?,
        "ok"
    );
    assert_eq!(call(s, "api", &obj("has", "dog.txt")).await?, "false");
    assert_eq!(
        call(
            s,
            "api",
            &[("op", "get"), ("c", "many"), ("o", "dog/moved")]
        )
        .await?,
        "woof!"
    );
    assert_eq!(
        call(s, "api", &copy("copy", "cat.txt", "nowhere", "x")).await?,
        "error: container `nowhere` does not exist"
    );
    assert_eq!(
        call(s, "api", &copy("move", "gone", "many", "x")).await?,
        "error: object `gone` does not exist in container `photos`"
    );

    // Deleting.
    assert_eq!(call(s, "api", &obj("delete", "cat.txt")).await?, "ok");
    assert_eq!(
        call(s, "api", &obj("delete", "cat.txt")).await?,
        "ok",
        "absent: no error"
    );
    assert_eq!(call(s, "api", &obj("has", "cat.txt")).await?, "false");
    assert_eq!(
        call(
            s,
            "api",
            &[
                ("op", "delete_many"),
                ("c", "photos"),
                ("names", "big,empty,nope")
            ]
        )
        .await?,
        "ok"
    );
    assert_eq!(list(s, "api", "photos", "100").await?.len(), odd.len());
    assert_eq!(call(s, "api", &c("clear")).await?, "ok");
    assert_eq!(list(s, "api", "photos", "100").await?, Vec::<String>::new());
    assert_eq!(
        call(s, "api", &[("op", "delete_container"), ("c", "many")]).await?,
        "ok"
    );
    assert_eq!(
        call(s, "api", &[("op", "exists"), ("c", "many")]).await?,
        "false"
    );
    assert_eq!(
        call(s, "api", &[("op", "delete_container"), ("c", "many")]).await?,
        "error: container `many` does not exist"
    );

    // A value dropped without `finish`: what `write-data` had written
    // stands, what it left for `finish` is never written.
    assert_eq!(
        put(
            s,
            "api",
            &[("c", "photos"), ("o", "complete"), ("finish", "no")],
            b"1".to_vec()
        )
        .await?,
        "ok"
    );
    assert_eq!(call(s, "api", &obj("get", "complete")).await?, "1");
    assert_eq!(
        put(
            s,
            "api",
            &[
                ("c", "photos"),
                ("o", "unfinished"),
                ("order", "data_first"),
                ("finish", "no")
            ],
            b"2".to_vec()
        )
        .await?,
        "ok"
    );
    assert_eq!(call(s, "api", &obj("has", "unfinished")).await?, "false");
    // Misuse is an error, not a trap.
    assert_eq!(
        call(s, "api", &[("op", "write_body_twice")]).await?,
        "first: true, second: false"
    );
    assert_eq!(
        put(
            s,
            "api",
            &[("c", "nope"), ("o", "x"), ("order", "data_first")],
            b"x".to_vec()
        )
        .await?,
        "error: container `nope` does not exist"
    );
    assert_eq!(
        call(s, "api", &[("op", "create"), ("c", "")]).await?,
        "error: invalid container name ``: it is empty"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Durability, grants, limits
// ---------------------------------------------------------------------------

/// A `file_system` store's objects are files at its path, and a restart of
/// `skiff up` finds them all.
#[tokio::test(flavor = "multi_thread")]
async fn file_system_store_survives_a_restart() -> Result<()> {
    let store = tempdir()?;
    let config = format!(
        "[blob_store.default]\ntype = \"file_system\"\npath = {}\n",
        toml_path(store.path())
    );
    let app = AppDir::new()?;
    app.write("skiff.toml", manifest())?;
    let (server, _) = up(&app, Some(&config))?;
    call(&server, "api", &[("op", "create"), ("c", "docs")]).await?;
    for i in 0..20 {
        let name = format!("reports/{i}.txt");
        put(
            &server,
            "api",
            &[("c", "docs"), ("o", name.as_str())],
            format!("report {i}").into(),
        )
        .await?;
    }
    drop(server);
    assert_eq!(
        std::fs::read_to_string(store.path().join("docs/reports%2F7.txt"))?,
        "report 7"
    );

    let (server, _) = up(&app, Some(&config))?;
    let names = list(&server, "api", "docs", "100").await?;
    assert_eq!(names.len(), 20);
    for i in 0..20 {
        let name = format!("reports/{i}.txt");
        assert_eq!(
            call(
                &server,
                "api",
                &[("op", "get"), ("c", "docs"), ("o", name.as_str())]
            )
            .await?,
            format!("report {i}")
        );
    }
    Ok(())
}

/// Without `blob_stores`, every call that reaches a store answers an error
/// naming the grant to add; labels are separate stores.
#[tokio::test(flavor = "multi_thread")]
async fn grants() -> Result<()> {
    let app = AppDir::new()?;
    app.write("skiff.toml", manifest())?;
    let (server, _) = up(&app, None)?;
    let s = &server;
    let denied = "error: component `none` is not granted a blob store: add \
                  `blob_stores = [\"default\"]` to `[component.none]` in the manifest";
    for pairs in [
        &[("op", "create"), ("c", "x")][..],
        &[("op", "get_container"), ("c", "x")],
        &[("op", "exists"), ("c", "x")],
        &[("op", "delete_container"), ("c", "x")],
        &[("op", "info"), ("c", "x")],
        &[("op", "put"), ("c", "x"), ("o", "y")],
        &[
            ("op", "copy"),
            ("c", "x"),
            ("o", "y"),
            ("to_c", "x"),
            ("to_o", "z"),
        ],
        &[
            ("op", "move"),
            ("c", "x"),
            ("o", "y"),
            ("to_c", "x"),
            ("to_o", "z"),
        ],
    ] {
        assert_eq!(call(s, "none", pairs).await?, denied, "{pairs:?}");
    }
    tokio::task::block_in_place(|| {
        server
            .stderr()
            .wait_for("component `none` is not granted a blob store", EFFECT_BOUND)
    })?;

    // `api` (label `default`) and `other` (label `other`) do not share.
    call(s, "api", &[("op", "create"), ("c", "shared-name")]).await?;
    assert_eq!(
        call(s, "other", &[("op", "exists"), ("c", "shared-name")]).await?,
        "false"
    );
    call(s, "other", &[("op", "create"), ("c", "shared-name")]).await?;
    put(
        s,
        "other",
        &[("c", "shared-name"), ("o", "o")],
        b"other's".to_vec(),
    )
    .await?;
    assert_eq!(
        call(s, "api", &[("op", "has"), ("c", "shared-name"), ("o", "o")]).await?,
        "false"
    );
    assert!(app.path().join(".skiff/blob/other/shared-name/o").is_file());
    Ok(())
}

/// `max_object_size` bounds what a guest may write, and the stream's error
/// says so; nothing of the value is stored.
#[tokio::test(flavor = "multi_thread")]
async fn max_object_size_reaches_the_guest() -> Result<()> {
    let app = AppDir::new()?;
    app.write("skiff.toml", manifest())?;
    let config = "[blob_store.default]\ntype = \"memory\"\nmax_object_size = \"1KiB\"\n";
    let (server, _) = up(&app, Some(config))?;
    let s = &server;
    call(s, "api", &[("op", "create"), ("c", "c")]).await?;
    assert_eq!(
        put(s, "api", &[("c", "c"), ("o", "max")], vec![7; 1024]).await?,
        "ok"
    );
    assert_eq!(
        call(s, "api", &[("op", "size"), ("c", "c"), ("o", "max")]).await?,
        "1024"
    );
    for order in ["body_first", "data_first"] {
        let answer = put(
            s,
            "api",
            &[("c", "c"), ("o", "over"), ("order", order)],
            vec![7; 1500],
        )
        .await?;
        assert_eq!(
            answer,
            "error: stream: the value written is over the limit of 1024 bytes \
             (`max_object_size` of the blob store): 1500 bytes with the last write",
            "{order}"
        );
        assert_eq!(
            call(s, "api", &[("op", "has"), ("c", "c"), ("o", "over")]).await?,
            "false"
        );
    }
    Ok(())
}

/// A changed `[blob_store.default]` takes effect for the next requests
/// without a restart; what the old store holds stays where it is.
#[tokio::test(flavor = "multi_thread")]
async fn live_swap_of_a_store() -> Result<()> {
    let (one, two) = (tempdir()?, tempdir()?);
    let config = |dir: &Path| {
        format!(
            "[blob_store.default]\ntype = \"file_system\"\npath = {}\n",
            toml_path(dir)
        )
    };
    let app = AppDir::new()?;
    app.write("skiff.toml", manifest())?;
    let (server, rc) = up(&app, Some(&config(one.path())))?;
    let rc = rc.unwrap();
    call(&server, "api", &[("op", "create"), ("c", "c")]).await?;
    put(
        &server,
        "api",
        &[("c", "c"), ("o", "o")],
        b"in one".to_vec(),
    )
    .await?;

    replace_file(&rc, &config(two.path()))?;
    tokio::task::block_in_place(|| {
        server.stderr().wait_for(
            &format!("runtime config `{}` applied", rc.display()),
            EFFECT_BOUND,
        )
    })?;
    assert_eq!(
        call(&server, "api", &[("op", "exists"), ("c", "c")]).await?,
        "false"
    );
    call(&server, "api", &[("op", "create"), ("c", "c")]).await?;
    put(
        &server,
        "api",
        &[("c", "c"), ("o", "o")],
        b"in two".to_vec(),
    )
    .await?;
    assert_eq!(std::fs::read(one.path().join("c/o"))?, b"in one");
    assert_eq!(std::fs::read(two.path().join("c/o"))?, b"in two");
    Ok(())
}

// ---------------------------------------------------------------------------
// Bad setups
// ---------------------------------------------------------------------------

/// `skiff up --runtime-config FILE` with `text` in FILE must fail, naming the
/// file and every one of `needles`.
fn bad_runtime_config(text: &str, needles: &[&str]) -> Result<()> {
    let app = AppDir::new()?;
    app.write("skiff.toml", manifest())?;
    let rc = app.write("runtime-config.toml", text)?;
    let out = up_fails(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;
    out.assert_code(1)
        .assert_stderr_contains(&rc.display().to_string());
    for needle in needles {
        out.assert_stderr_contains(needle);
    }
    Ok(())
}

#[test]
fn bad_runtime_config_unknown_type() -> Result<()> {
    bad_runtime_config(
        "[blob_store.default]\ntype = \"s3\"\n",
        &[
            "`blob_store.default.type`",
            "unsupported blob store type \"s3\"; expected one of \"file_system\", \"memory\", \
             \"nats\"",
        ],
    )
}

#[test]
fn bad_runtime_config_missing_path() -> Result<()> {
    bad_runtime_config(
        "[blob_store.default]\ntype = \"file_system\"\n",
        &["`blob_store.default.path`: missing"],
    )
}

#[test]
fn bad_runtime_config_path_cannot_be_made() -> Result<()> {
    let dir = tempdir()?;
    let file = dir.path().join("a-file");
    std::fs::write(&file, "")?;
    bad_runtime_config(
        &format!(
            "[blob_store.default]\ntype = \"file_system\"\npath = {}\n",
            toml_path(file.join("blobs"))
        ),
        &[
            "could not open blob store `default` (`blob_store.default`)",
            &format!("file-system blob store at {}", file.join("blobs").display()),
        ],
    )
}

#[test]
fn bad_runtime_config_nats_without_jetstream() -> Result<()> {
    let nats = NatsServer::start()?;
    bad_runtime_config(
        &format!(
            "[blob_store.default]\ntype = \"nats\"\nurl = \"{}\"\n",
            nats.url()
        ),
        &[
            "could not open blob store `default` (`blob_store.default`)",
            &format!(
                "nats blob store `skiff-blobs-default` at {}: JetStream does not answer",
                nats.url()
            ),
            "is JetStream on (`nats-server -js`)",
        ],
    )
}

#[test]
fn bad_runtime_config_nats_unknown_key() -> Result<()> {
    bad_runtime_config(
        "[blob_store.default]\ntype = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\n\
         bucket = \"media\"\n",
        &["`blob_store.default.bucket`: unknown key for a blob store of type \"nats\""],
    )
}

#[test]
fn two_blob_stores_are_a_manifest_error() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "skiff.toml",
        manifest().replace(
            "blob_stores = [\"default\"]",
            "blob_stores = [\"default\", \"media\"]",
        ),
    )?;
    up_fails(app.path(), shared_cache()?, |_| {})?
        .assert_code(1)
        .assert_stderr_contains("`component.api.blob_stores[1]`")
        .assert_stderr_contains("a component has one blob store");
    Ok(())
}
