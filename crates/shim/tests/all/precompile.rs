//! The content-store precompilation (runwasi's `Compiler` hook): a bundle made in the
//! shim seeds the container's AOT cache so that `skiff-runtime` — serving or running
//! a command, with its own engine settings — compiles nothing.

use std::path::Path;

use anyhow::{Context, Result};
use containerd_shim_skiff::{Kind, PrecompiledBundle, SkiffCompiler, component_kind};
use skiff_engine::WasmKind;
use test_programs_artifacts::{CLI_ECHO_COMPONENT, CLI_ECHO_P1_MODULE, HTTP_HELLO_COMPONENT};

use crate::containerd::{free_port, http};

fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    Ok(names)
}

fn seeded(
    wasm: &[u8],
    kind: Kind,
    wasm_kind: WasmKind,
) -> Result<(tempfile::TempDir, Vec<String>)> {
    let compiler = SkiffCompiler::new()?;
    let bytes = compiler
        .compile_layer(wasm)?
        .context("the layer was not compiled")?;
    assert!(
        compiler.compile_layer(&bytes)?.is_none(),
        "an already precompiled layer must not be compiled again"
    );
    let bundle = PrecompiledBundle::decode(&bytes)?;
    assert_eq!((bundle.kind, bundle.wasm_kind), (kind, wasm_kind));
    assert_eq!(bundle.wasm, wasm);
    let cache = tempfile::tempdir()?;
    bundle.seed_cache(Some(cache.path()))?;
    let seeded = entries(&cache.path().join("aot"))?;
    assert_eq!(seeded.len(), 2, "one entry and its digest: {seeded:?}");
    Ok((cache, seeded))
}

#[test]
fn exports_decide_http_or_command() -> Result<()> {
    assert_eq!(
        component_kind(&std::fs::read(HTTP_HELLO_COMPONENT)?)?,
        Kind::Http
    );
    assert_eq!(
        component_kind(&std::fs::read(CLI_ECHO_COMPONENT)?)?,
        Kind::Command
    );
    assert_eq!(
        component_kind(&std::fs::read(CLI_ECHO_P1_MODULE)?)?,
        Kind::Command
    );
    let err = component_kind(b"(component)").unwrap_err();
    assert!(format!("{err:#}").contains("exports neither"), "{err:#}");
    Ok(())
}

#[test]
fn truncated_bundle_is_rejected() -> Result<()> {
    let compiler = SkiffCompiler::new()?;
    let bytes = compiler
        .compile_layer(&std::fs::read(CLI_ECHO_P1_MODULE)?)?
        .context("not compiled")?;
    let err = PrecompiledBundle::decode(&bytes[..30]).unwrap_err();
    assert!(format!("{err:#}").contains("truncated bundle"), "{err:#}");
    let err = PrecompiledBundle::decode(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(
        format!("{err:#}").contains("not a Skiff precompiled bundle"),
        "{err:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn precompiled_http_component_is_served_without_compiling() -> Result<()> {
    let wasm = std::fs::read(HTTP_HELLO_COMPONENT)?;
    let (cache, before) = seeded(&wasm, Kind::Http, WasmKind::Component)?;
    let app_dir = tempfile::tempdir()?;
    std::fs::write(app_dir.path().join("hello.wasm"), &wasm)?;
    std::fs::write(
        app_dir.path().join("skiff.toml"),
        "skiff_manifest_version = 1\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n",
    )?;
    let app = skiff_manifest::load(app_dir.path())?;
    let port = free_port()?;
    let mut config = skiff_runtime::ServeConfig::new(app, ([127, 0, 0, 1], port).into());
    config.cache_dir = Some(cache.path().to_path_buf());
    config.banner = false;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(skiff_runtime::serve(
        config,
        Box::pin(async move {
            let _ = stopped.await;
        }),
    ));
    let answer = tokio::task::spawn_blocking(move || {
        for _ in 0..2400 {
            if let Ok(answer) = http(port, "GET", "/", b"") {
                return Ok(answer);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        anyhow::bail!("the app did not answer on port {port}")
    })
    .await??;
    assert_eq!(answer, (200, "Hello from Skiff!\n".to_string()));
    let _ = stop.send(());
    server.await??;
    assert_eq!(
        entries(&cache.path().join("aot"))?,
        before,
        "serving compiled the component again instead of using the seeded entry"
    );
    Ok(())
}

#[test]
fn precompiled_commands_run_without_compiling() -> Result<()> {
    for (path, wasm_kind) in [
        (CLI_ECHO_COMPONENT, WasmKind::Component),
        (CLI_ECHO_P1_MODULE, WasmKind::Module),
    ] {
        let wasm = std::fs::read(path)?;
        let (cache, before) = seeded(&wasm, Kind::Command, wasm_kind)?;
        let exit = skiff_runtime::run_command(skiff_runtime::CommandConfig {
            file: path.into(),
            instance: skiff_host::InstanceConfig::new("echo"),
            timeout: None,
            cache_dir: Some(cache.path().to_path_buf()),
        })?;
        assert_eq!(exit.code, 0, "{path}");
        assert_eq!(
            entries(&cache.path().join("aot"))?,
            before,
            "running {path} compiled it again instead of using the seeded entry"
        );
    }
    Ok(())
}
