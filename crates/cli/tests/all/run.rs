//! `skiff run`: WASI commands (components and preview1 modules) with explicit grants.
//!
//! The tests named after a `cli_*` guest are `pub(crate)` so `main.rs` can prove
//! that every guest has one.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use tempfile::TempDir;
use test_programs_artifacts::{
    CLI_ECHO_COMPONENT, CLI_ECHO_P1_MODULE, CLI_EXIT_COMPONENT, CLI_FS_COMPONENT, CLI_FS_P1_MODULE,
    CLI_LOOP_COMPONENT, CLI_OOM_COMPONENT, CLI_TRAP_COMPONENT,
};

use crate::harness::{Finished, skiff_in, tempdir};
pub(crate) use crate::logging::cli_logging;

/// Exit code of a guest that trapped or hit a limit (as `wasmtime run`).
const TRAP_EXIT: i32 = 134;

/// `skiff run` with one cache directory for the whole test.
struct Runner {
    cache: TempDir,
}

impl Runner {
    fn new() -> Result<Self> {
        Ok(Runner { cache: tempdir()? })
    }

    fn run(&self, args: &[&str]) -> Result<Finished> {
        self.run_with(args, |_| {})
    }

    fn run_with(&self, args: &[&str], configure: impl FnOnce(&mut Command)) -> Result<Finished> {
        skiff_in(
            self.cache.path(),
            std::iter::once("run").chain(args.iter().copied()),
            configure,
        )
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The `env:` lines of cli_echo's output.
fn env_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("env:")).collect()
}

#[test]
pub(crate) fn cli_echo() -> Result<()> {
    let out = Runner::new()?.run(&[CLI_ECHO_COMPONENT, "--", "hello", "two words", "--flag"])?;
    out.assert_code(0);
    assert_eq!(
        out.stdout, "arg[0]=cli_echo.wasm\narg[1]=hello\narg[2]=two words\narg[3]=--flag\n",
        "stderr:\n{}",
        out.stderr
    );
    out.assert_stderr_contains("stderr-line");
    Ok(())
}

#[test]
pub(crate) fn cli_exit() -> Result<()> {
    let runner = Runner::new()?;
    for code in [0, 3, 42] {
        runner
            .run(&[CLI_EXIT_COMPONENT, "--", &code.to_string()])?
            .assert_code(code);
    }
    Ok(())
}

#[test]
fn env_pairs_are_seen() -> Result<()> {
    let out = Runner::new()?.run(&[
        "--env",
        "GREETING=hello world",
        "--env",
        "EQUATION=a=b",
        "--env",
        "EMPTY=",
        CLI_ECHO_COMPONENT,
    ])?;
    out.assert_code(0);
    assert_eq!(
        env_lines(&out.stdout),
        ["env:EMPTY=", "env:EQUATION=a=b", "env:GREETING=hello world"]
    );
    Ok(())
}

#[test]
fn env_name_passes_a_host_variable_through() -> Result<()> {
    let out =
        Runner::new()?.run_with(&["--env", "SKIFF_TEST_PASSED", CLI_ECHO_COMPONENT], |c| {
            c.env("SKIFF_TEST_PASSED", "from the host")
                .env("SKIFF_TEST_NOT_PASSED", "secret");
        })?;
    out.assert_code(0);
    assert_eq!(
        env_lines(&out.stdout),
        ["env:SKIFF_TEST_PASSED=from the host"]
    );
    Ok(())
}

#[test]
fn no_environment_without_a_grant() -> Result<()> {
    let out = Runner::new()?.run_with(&[CLI_ECHO_COMPONENT], |c| {
        c.env("SKIFF_TEST_SECRET", "must not leak");
    })?;
    out.assert_code(0);
    assert_eq!(env_lines(&out.stdout), Vec::<&str>::new());
    assert!(!out.stdout.contains("must not leak"));
    Ok(())
}

/// A host tree for the filesystem tests:
/// `root/granted/{in.txt, sub/deep.txt, link-rel -> ../secret.txt, link-abs -> root/secret.txt}`
/// and `root/secret.txt` outside the grant.
struct FsTree {
    root: TempDir,
}

impl FsTree {
    fn new() -> Result<Self> {
        let root = tempdir()?;
        let granted = root.path().join("granted");
        std::fs::create_dir_all(granted.join("sub"))?;
        std::fs::write(granted.join("in.txt"), "hello from the host")?;
        std::fs::write(granted.join("sub/deep.txt"), "deep")?;
        std::fs::write(root.path().join("secret.txt"), "TOP SECRET")?;
        std::os::unix::fs::symlink("../secret.txt", granted.join("link-rel"))?;
        std::os::unix::fs::symlink(root.path().join("secret.txt"), granted.join("link-abs"))?;
        Ok(FsTree { root })
    }

    fn granted(&self) -> std::path::PathBuf {
        self.root.path().join("granted")
    }

    fn secret(&self) -> std::path::PathBuf {
        self.root.path().join("secret.txt")
    }
}

/// Asserts that a cli_fs operation was refused with `PermissionDenied` (the
/// host said no, rather than the file being absent): exit 1, no secret shown.
#[track_caller]
fn assert_refused(out: &Finished) {
    assert_failed_with(out, "PermissionDenied");
}

/// Asserts that a cli_fs operation failed with error kind `kind`: exit 1, no secret shown.
#[track_caller]
fn assert_failed_with(out: &Finished, kind: &str) {
    out.assert_code(1)
        .assert_stderr_contains(&format!("error: {kind}: "));
    assert!(
        !out.stdout.contains("TOP SECRET"),
        "the guest read a file outside its grant:\n{}",
        out.stdout
    );
}

#[test]
pub(crate) fn cli_fs() -> Result<()> {
    let tree = FsTree::new()?;
    let runner = Runner::new()?;
    let grant = format!("{}::/data", s(&tree.granted()));

    let out = runner.run(&[
        "--dir",
        &grant,
        CLI_FS_COMPONENT,
        "--",
        "read",
        "/data/in.txt",
    ])?;
    out.assert_code(0);
    assert_eq!(out.stdout, "hello from the host");

    let out = runner.run(&[
        "--dir",
        &grant,
        CLI_FS_COMPONENT,
        "--",
        "write",
        "/data/sub/out.txt",
        "written by the guest",
    ])?;
    out.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(tree.granted().join("sub/out.txt"))?,
        "written by the guest"
    );

    let out = runner.run(&["--dir", &grant, CLI_FS_COMPONENT, "--", "ls", "/data/sub"])?;
    out.assert_code(0);
    assert_eq!(out.stdout, "deep.txt\nout.txt\n");

    // Without `::GUEST`, the guest sees the directory at its host path.
    let granted = s(&tree.granted()).to_string();
    let out = runner.run(&[
        "--dir",
        &granted,
        CLI_FS_COMPONENT,
        "--",
        "read",
        &format!("{granted}/sub/deep.txt"),
    ])?;
    out.assert_code(0);
    assert_eq!(out.stdout, "deep");
    Ok(())
}

#[test]
fn dir_ro_reads_and_refuses_writes() -> Result<()> {
    let tree = FsTree::new()?;
    let runner = Runner::new()?;
    let grant = format!("{}::/data", s(&tree.granted()));

    let out = runner.run(&[
        "--dir-ro",
        &grant,
        CLI_FS_COMPONENT,
        "--",
        "read",
        "/data/in.txt",
    ])?;
    out.assert_code(0);
    assert_eq!(out.stdout, "hello from the host");

    let out = runner.run(&[
        "--dir-ro",
        &grant,
        CLI_FS_COMPONENT,
        "--",
        "write",
        "/data/new.txt",
        "nope",
    ])?;
    assert_refused(&out);
    assert!(!tree.granted().join("new.txt").exists());

    // Overwriting an existing file is a write too.
    let out = runner.run(&[
        "--dir-ro",
        &grant,
        CLI_FS_COMPONENT,
        "--",
        "write",
        "/data/in.txt",
        "clobbered",
    ])?;
    assert_refused(&out);
    assert_eq!(
        std::fs::read_to_string(tree.granted().join("in.txt"))?,
        "hello from the host"
    );
    Ok(())
}

#[test]
fn dotdot_cannot_escape_a_preopen() -> Result<()> {
    let tree = FsTree::new()?;
    let runner = Runner::new()?;
    let grant = format!("{}::/data", s(&tree.granted()));

    for path in ["/data/../secret.txt", "/data/sub/../../secret.txt"] {
        let out = runner.run(&["--dir", &grant, CLI_FS_COMPONENT, "--", "read", path])?;
        assert_refused(&out);
    }
    let out = runner.run(&[
        "--dir",
        &grant,
        CLI_FS_COMPONENT,
        "--",
        "write",
        "/data/../escaped.txt",
        "x",
    ])?;
    assert_refused(&out);
    assert!(!tree.root.path().join("escaped.txt").exists());
    Ok(())
}

#[test]
fn absolute_path_outside_the_preopen_is_refused() -> Result<()> {
    let tree = FsTree::new()?;
    let granted = s(&tree.granted()).to_string();
    let out = Runner::new()?.run(&[
        "--dir",
        &granted,
        CLI_FS_COMPONENT,
        "--",
        "read",
        s(&tree.secret()),
    ])?;
    // No preopen covers the path, so to the guest it does not exist.
    assert_failed_with(&out, "NotFound");
    Ok(())
}

#[test]
fn symlink_out_of_the_preopen_is_refused() -> Result<()> {
    let tree = FsTree::new()?;
    let runner = Runner::new()?;
    let grant = format!("{}::/data", s(&tree.granted()));
    for link in ["/data/link-rel", "/data/link-abs"] {
        let out = runner.run(&["--dir", &grant, CLI_FS_COMPONENT, "--", "read", link])?;
        assert_refused(&out);
        let out = runner.run(&["--dir", &grant, CLI_FS_COMPONENT, "--", "write", link, "x"])?;
        assert_refused(&out);
    }
    assert_eq!(std::fs::read_to_string(tree.secret())?, "TOP SECRET");
    Ok(())
}

#[test]
fn p1_module_gets_args_and_env() -> Result<()> {
    let out = Runner::new()?.run_with(
        &[
            "--env",
            "MODE=p1",
            "--env",
            "SKIFF_TEST_PASSED",
            CLI_ECHO_P1_MODULE,
            "--",
            "one",
            "two",
        ],
        |c| {
            c.env("SKIFF_TEST_PASSED", "through")
                .env("SKIFF_TEST_SECRET", "must not leak");
        },
    )?;
    out.assert_code(0).assert_stderr_contains("stderr-line");
    assert_eq!(
        out.stdout,
        "arg[0]=cli_echo.wasm\narg[1]=one\narg[2]=two\nenv:MODE=p1\nenv:SKIFF_TEST_PASSED=through\n"
    );
    Ok(())
}

#[test]
fn p1_module_gets_dirs() -> Result<()> {
    let tree = FsTree::new()?;
    let runner = Runner::new()?;
    let grant = format!("{}::/data", s(&tree.granted()));

    let out = runner.run(&[
        "--dir-ro",
        &grant,
        CLI_FS_P1_MODULE,
        "--",
        "read",
        "/data/in.txt",
    ])?;
    out.assert_code(0);
    assert_eq!(out.stdout, "hello from the host");

    let out = runner.run(&[
        "--dir",
        &grant,
        CLI_FS_P1_MODULE,
        "--",
        "write",
        "/data/p1.txt",
        "from p1",
    ])?;
    out.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(tree.granted().join("p1.txt"))?,
        "from p1"
    );

    let out = runner.run(&[
        "--dir-ro",
        &grant,
        CLI_FS_P1_MODULE,
        "--",
        "write",
        "/data/p1-ro.txt",
        "x",
    ])?;
    assert_refused(&out);
    assert!(!tree.granted().join("p1-ro.txt").exists());

    let out = runner.run(&[
        "--dir",
        &grant,
        CLI_FS_P1_MODULE,
        "--",
        "read",
        "/data/../secret.txt",
    ])?;
    assert_refused(&out);
    Ok(())
}

#[test]
pub(crate) fn cli_trap() -> Result<()> {
    let out = Runner::new()?.run(&[CLI_TRAP_COMPONENT])?;
    out.assert_code(TRAP_EXIT)
        .assert_stderr_contains("cli_trap panicked on purpose")
        .assert_stderr_contains("wasm backtrace")
        .assert_stderr_contains("cli_trap::inner")
        .assert_stderr_contains("cli_trap::outer");
    Ok(())
}

/// Compiles `component` into the runner's cache, so a timed run measures the guest only.
fn warm(runner: &Runner, component: &str) -> Result<()> {
    skiff_in(runner.cache.path(), ["compile", component], |_| {})?.assert_code(0);
    Ok(())
}

#[test]
pub(crate) fn cli_loop() -> Result<()> {
    let runner = Runner::new()?;
    warm(&runner, CLI_LOOP_COMPONENT)?;
    let out = runner.run(&["--timeout", "500ms", CLI_LOOP_COMPONENT])?;
    out.assert_code(TRAP_EXIT)
        .assert_stderr_contains("time limit");
    assert!(
        out.elapsed < Duration::from_millis(500) + Duration::from_secs(5),
        "a 500ms timeout took {:?} to stop the guest",
        out.elapsed
    );
    Ok(())
}

#[test]
fn fuel_stops_a_loop() -> Result<()> {
    let out = Runner::new()?.run(&["--fuel", "1000000", CLI_LOOP_COMPONENT])?;
    out.assert_code(TRAP_EXIT).assert_stderr_contains("fuel");
    Ok(())
}

#[test]
pub(crate) fn cli_oom() -> Result<()> {
    let out = Runner::new()?.run(&["--memory", "16MiB", CLI_OOM_COMPONENT])?;
    out.assert_code(TRAP_EXIT)
        .assert_stderr_contains("memory limit");
    Ok(())
}

#[test]
fn not_a_wasm_file() -> Result<()> {
    let dir = tempdir()?;
    let file = dir.path().join("notes.wasm");
    std::fs::write(&file, "just some text, not WebAssembly\n")?;
    let out = Runner::new()?.run(&[s(&file)])?;
    out.assert_code(1)
        .assert_stderr_contains("is not a WebAssembly file")
        .assert_stderr_contains(s(&file));
    Ok(())
}

#[test]
fn http_handler_without_wasi_cli_run_is_refused() -> Result<()> {
    // The HTTP test guests are Rust bins, so they export `wasi:cli/run` too
    // (and `skiff run` runs their empty `main`). This component exports only
    // an instance named like the HTTP handler interface.
    let dir = tempdir()?;
    let file = dir.path().join("handler.wat");
    std::fs::write(
        &file,
        r#"(component
  (core module $m (func (export "handle")))
  (core instance $i (instantiate $m))
  (func $handle (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $handler))
)
"#,
    )?;
    let out = Runner::new()?.run(&[s(&file)])?;
    out.assert_code(1)
        .assert_stderr_contains("wasi:cli/run")
        .assert_stderr_contains("skiff up");
    Ok(())
}

#[test]
fn missing_dir_is_named() -> Result<()> {
    let dir = tempdir()?;
    let missing = dir.path().join("does-not-exist");
    let out = Runner::new()?.run(&["--dir", s(&missing), CLI_ECHO_COMPONENT])?;
    out.assert_code(1).assert_stderr_contains(s(&missing));
    let out = Runner::new()?.run(&[
        "--dir-ro",
        &format!("{}::/data", s(&missing)),
        CLI_ECHO_COMPONENT,
    ])?;
    out.assert_code(1).assert_stderr_contains(s(&missing));
    Ok(())
}
