//! The `kv_*` guests, one per interface generation, each instantiated in
//! `skiff_test_support::guest`'s minimal host (WASI + wasi:http + this
//! crate's `add_to_linker`) and sent requests through its `wasi:http` handler.

use std::sync::Arc;

use anyhow::Result;
use skiff_kv::{DefaultBackend, KeyValueManager, KvState};
use skiff_test_support::guest;

/// Fails to compile when a `kv_*` guest has no test function of its name.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the test exists")]
        use self::$name as _;
    };
}
test_programs_artifacts::foreach_kv!(assert_test_exists);

/// An app: a manager and the labels its component is granted.
struct App {
    manager: Arc<KeyValueManager>,
    granted: Arc<[String]>,
}

impl App {
    fn new(manager: KeyValueManager, granted: &[&str]) -> Self {
        App {
            manager: Arc::new(manager),
            granted: granted.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A fresh instance's key-value state.
    fn state(&self) -> KvState {
        KvState::new(self.manager.clone(), self.granted.clone())
    }

    /// Sends `POST <path_and_query>` with `body` to a fresh instance of the
    /// guest; returns the status and body.
    async fn send(&self, guest: &str, path_and_query: &str, body: &str) -> Result<(u16, String)> {
        guest::send(guest, self.state(), path_and_query, body).await
    }

    /// `send`, expecting `200`; returns the body.
    async fn ok(&self, guest: &str, path_and_query: &str, body: &str) -> Result<String> {
        guest::ok(guest, self.state(), path_and_query, body).await
    }
}

/// A manager with `default` in memory and `ghost` granted but unbacked.
fn app() -> Result<App> {
    let manager = KeyValueManager::builder("guests").build();
    manager.replace("default", Arc::new(skiff_kv::memory::MemoryStore::new()));
    Ok(App::new(manager, &["default", "ghost"]))
}

/// The operations every interface has, through `guest` (`query` is appended
/// to every request, e.g. `&v=draft2`).
async fn basic_ops(app: &App, guest: &str, query: &str) -> Result<()> {
    let url = |rest: &str| format!("/?store=default{query}&{rest}");
    assert_eq!(app.ok(guest, &url("op=get&key=k"), "").await?, "none");
    assert_eq!(app.ok(guest, &url("op=exists&key=k"), "").await?, "false");
    assert_eq!(app.ok(guest, &url("op=set&key=k"), "hello").await?, "ok");
    assert_eq!(app.ok(guest, &url("op=get&key=k"), "").await?, "some:hello");
    assert_eq!(app.ok(guest, &url("op=exists&key=k"), "").await?, "true");
    assert_eq!(app.ok(guest, &url("op=set&key=other"), "x").await?, "ok");
    assert_eq!(
        app.ok(guest, &url("op=list"), "").await?,
        r#"["k","other"]"#
    );
    assert_eq!(app.ok(guest, &url("op=delete&key=k"), "").await?, "ok");
    assert_eq!(app.ok(guest, &url("op=delete&key=other"), "").await?, "ok");
    assert_eq!(app.ok(guest, &url("op=get&key=k"), "").await?, "none");
    assert_eq!(app.ok(guest, &url("op=list"), "").await?, "[]");
    Ok(())
}

/// Denied and unbacked labels answer the interface's errors, not traps.
async fn grant_errors(app: &App, guest: &str, query: &str) -> Result<()> {
    // Not granted: access-denied, whether or not such a store exists.
    for label in ["secret", "default2", "ghost-not-granted"] {
        let url = format!("/?store={label}{query}&op=get&key=k");
        assert_eq!(
            app.ok(guest, &url, "").await?,
            "error: access-denied",
            "{url}"
        );
    }
    let url = format!("/?store=ghost{query}&op=get&key=k");
    assert_eq!(app.ok(guest, &url, "").await?, "error: no-such-store");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_wasi() -> Result<()> {
    let guest = test_programs_artifacts::KV_WASI_COMPONENT;
    let app = app()?;
    for v in ["&v=draft", "&v=draft2"] {
        basic_ops(&app, guest, v).await?;
        grant_errors(&app, guest, v).await?;
        let url = |rest: &str| format!("/?store=default{v}&{rest}");
        assert_eq!(
            app.ok(guest, &url("op=set_many&keys=a,b,c"), "1").await?,
            "ok"
        );
        assert_eq!(
            app.ok(guest, &url("op=get_many&keys=c,zz,a"), "").await?,
            r#"["1",null,"1"]"#
        );
        assert_eq!(
            app.ok(guest, &url("op=delete_many&keys=a,b,c"), "").await?,
            "ok"
        );
        assert_eq!(app.ok(guest, &url("op=list"), "").await?, "[]");
        assert_eq!(app.ok(guest, &url("op=incr&key=n&by=5"), "").await?, "5");
        assert_eq!(app.ok(guest, &url("op=incr&key=n&by=2"), "").await?, "7");
        assert_eq!(app.ok(guest, &url("op=get&key=n"), "").await?, "some:7");
        assert_eq!(app.ok(guest, &url("op=set&key=t"), "text").await?, "ok");
        let err = app.ok(guest, &url("op=incr&key=t&by=1"), "").await?;
        assert!(
            err.starts_with("error: other: ") && err.contains("not a decimal integer"),
            "{err}"
        );
        assert_eq!(
            app.ok(guest, &url("op=delete_many&keys=n,t"), "").await?,
            "ok"
        );
        assert_eq!(app.ok(guest, &url("op=open&n=3"), "").await?, "ok");
    }
    // draft2 only: increments by a signed delta, and compare-and-swap.
    let url = |rest: &str| format!("/?store=default&v=draft2&{rest}");
    assert_eq!(app.ok(guest, &url("op=incr&key=n&by=-3"), "").await?, "-3");
    assert_eq!(
        app.ok(guest, &url("op=cas&key=c&new=one"), "").await?,
        "swapped"
    );
    assert_eq!(
        app.ok(guest, &url("op=cas&key=c&new=two"), "").await?,
        "conflict"
    );
    assert_eq!(
        app.ok(guest, &url("op=cas&key=c&old=one&new=two"), "")
            .await?,
        "swapped"
    );
    assert_eq!(app.ok(guest, &url("op=get&key=c"), "").await?, "some:two");
    // draft's u64 counters cannot show a negative value.
    let err = app
        .ok(guest, "/?store=default&op=incr&key=n&by=1", "")
        .await?;
    assert!(err.contains("would overflow"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_spin2() -> Result<()> {
    let guest = test_programs_artifacts::KV_SPIN2_COMPONENT;
    let app = app()?;
    basic_ops(&app, guest, "").await?;
    grant_errors(&app, guest, "").await?;
    let max = app.manager.max_open_stores();
    let url = |n: usize| format!("/?store=default&op=open&n={n}");
    assert_eq!(app.ok(guest, &url(max), "").await?, "ok");
    assert_eq!(
        app.ok(guest, &url(max + 1), "").await?,
        "error: store-table-full"
    );
    let (status, _) = app.send(guest, "/?store=default&op=incr&key=n", "").await?;
    assert_eq!(status, 400, "fermyon:spin/key-value has no increment");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_spin3() -> Result<()> {
    let guest = test_programs_artifacts::KV_SPIN3_COMPONENT;
    let app = app()?;
    basic_ops(&app, guest, "").await?;
    grant_errors(&app, guest, "").await?;
    let max = app.manager.max_open_stores();
    let url = |n: usize| format!("/?store=default&op=open&n={n}");
    assert_eq!(app.ok(guest, &url(max), "").await?, "ok");
    assert_eq!(
        app.ok(guest, &url(max + 1), "").await?,
        "error: store-table-full"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_interface_sees_the_same_store() -> Result<()> {
    let app = app()?;
    let (wasi, spin2, spin3) = (
        test_programs_artifacts::KV_WASI_COMPONENT,
        test_programs_artifacts::KV_SPIN2_COMPONENT,
        test_programs_artifacts::KV_SPIN3_COMPONENT,
    );
    app.ok(wasi, "/?store=default&op=set&key=shared", "from wasi")
        .await?;
    app.ok(wasi, "/?store=default&op=incr&key=count&by=3", "")
        .await?;
    for guest in [spin2, spin3] {
        let got = app
            .ok(guest, "/?store=default&op=get&key=shared", "")
            .await?;
        assert_eq!(got, "some:from wasi");
        assert_eq!(
            app.ok(guest, "/?store=default&op=get&key=count", "")
                .await?,
            "some:3"
        );
    }
    app.ok(spin3, "/?store=default&op=set&key=shared", "from spin3")
        .await?;
    let got = app
        .ok(wasi, "/?store=default&v=draft2&op=get&key=shared", "")
        .await?;
    assert_eq!(got, "some:from spin3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limits_reach_the_guest_as_errors() -> Result<()> {
    let manager = KeyValueManager::builder("guests")
        .default_backend(DefaultBackend::Memory)
        .limits(skiff_kv::Limits {
            max_key_bytes: 4,
            max_value_bytes: 8,
            ..Default::default()
        })
        .build();
    let app = App::new(manager, &["default"]);
    for guest in [
        test_programs_artifacts::KV_WASI_COMPONENT,
        test_programs_artifacts::KV_SPIN2_COMPONENT,
        test_programs_artifacts::KV_SPIN3_COMPONENT,
    ] {
        assert_eq!(
            app.ok(guest, "/?store=default&op=set&key=k", "12345678")
                .await?,
            "ok"
        );
        let err = app
            .ok(guest, "/?store=default&op=set&key=k", "123456789")
            .await?;
        assert_eq!(
            err,
            "error: other: value for key `k` is 9 bytes; the limit is 8 bytes"
        );
        let err = app
            .ok(guest, "/?store=default&op=get&key=kkkkk", "")
            .await?;
        assert_eq!(
            err,
            "error: other: key `kkkkk` is 5 bytes; the limit is 4 bytes"
        );
    }
    Ok(())
}
