//! Builds the guests of `crates/test-programs` and writes
//! `$OUT_DIR/test_programs.rs`: one path constant per guest and one
//! `foreach_<suite>!` macro per suite.
//!
//! The guests are built by a nested `cargo build --release` with its own
//! target directory (`<target dir>/test-programs/<checkout>`), so it never
//! waits on the outer build's lock and its output survives between `cargo
//! test` runs.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Suites a guest name may start with (`<suite>_<name>`); each gets a
/// `foreach_<suite>!` macro.
const SUITES: &[&str] = &[
    "blob",
    "cli",
    "deps",
    "http",
    "kv",
    "messaging",
    "mqtt",
    "mysql",
    "redis",
    "spin",
    "sql",
    "trigger",
    "vars",
];

/// Guests that are also built for `wasm32-wasip1`, as core modules.
const P1_GUESTS: &[&str] = &["cli_echo", "cli_fs", "http_spin"];

const P2_TARGET: &str = "wasm32-wasip2";
const P1_TARGET: &str = "wasm32-wasip1";

/// Environment a build script inherits that must not leak into the nested
/// build: the outer build's flags, jobserver, target and per-package
/// variables, and wrappers such as `clippy-driver`.
const REMOVED_ENV: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_TARGET_TMPDIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "NUM_JOBS",
    "OPT_LEVEL",
    "DEBUG",
    "PROFILE",
];

/// Prefixes of per-package variables cargo sets for build scripts.
const REMOVED_ENV_PREFIXES: &[&str] = &["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "DEP_"];

fn main() {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let guest_dir = manifest_dir
        .parent()
        .expect("the artifacts crate lives in crates/test-programs/artifacts")
        .to_path_buf();
    let out_dir = PathBuf::from(env_var("OUT_DIR"));
    let target_dir = guest_target_dir(&out_dir, &guest_dir);

    for path in ["Cargo.toml", "Cargo.lock", "src"] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(path).display());
    }

    check_targets_installed();

    let guests = guest_names(&guest_dir.join("src").join("bin"));
    let manifest = guest_dir.join("Cargo.toml");
    cargo_build(&manifest, &target_dir, P2_TARGET, &["--bins"]);
    let mut p1_args = Vec::new();
    for guest in P1_GUESTS {
        p1_args.extend(["--bin", guest]);
    }
    cargo_build(&manifest, &target_dir, P1_TARGET, &p1_args);

    let code = generate(&guests, &target_dir);
    fs::write(out_dir.join("test_programs.rs"), code).expect("failed to write test_programs.rs");
}

fn env_var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| panic!("cargo did not set `{name}` for the build script"))
}

/// `<target dir>/test-programs/<checkout>`, `<checkout>` a hash of where the
/// guests' sources are. Two checkouts sharing one target dir (a CI cache, a
/// clone beside a working tree) must not share the nested build: its
/// fingerprints name the other checkout's files, whose unchanged times would
/// keep this one's edited guests from being rebuilt. `OUT_DIR` is
/// `<target dir>/[<triple>/]<profile>/build/<package>-<hash>/out`, so the
/// target dir is the parent of the profile directory above `build`, minus the
/// `<triple>` component when cargo was given `--target`. Falls back to
/// `OUT_DIR` itself for an unexpected layout.
fn guest_target_dir(out_dir: &Path, guest_dir: &Path) -> PathBuf {
    let target = env::var("TARGET").unwrap_or_default();
    let target_dir = out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent) // the profile directory
        .and_then(Path::parent)
        .map(|dir| match dir.file_name() {
            Some(name) if name == target.as_str() => dir.parent().unwrap_or(dir),
            _ => dir,
        });
    let checkout = {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        guest_dir.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    };
    target_dir
        .unwrap_or(out_dir)
        .join("test-programs")
        .join(checkout)
}

/// Fails with the fix when a wasm target's standard library is missing.
fn check_targets_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let missing: Vec<&str> = [P1_TARGET, P2_TARGET]
        .into_iter()
        .filter(|target| {
            let output = Command::new(&rustc)
                .args(["--print", "target-libdir", "--target", target])
                .output();
            match output {
                Ok(output) if output.status.success() => {
                    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
                    !Path::new(&libdir).is_dir()
                }
                _ => true,
            }
        })
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "error: the Rust target(s) {} needed to build Skiff's test guests are not installed;\n\
             run `rustup target add wasm32-wasip1 wasm32-wasip2`",
            missing.join(", ")
        );
        std::process::exit(1);
    }
}

/// The names of the guests: the `*.rs` files of `src/bin`, sorted.
fn guest_names(bin_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(bin_dir)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", bin_dir.display()))
        .map(|entry| entry.expect("failed to read a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            path.file_stem()
                .and_then(|stem| stem.to_str())
                .expect("guest file names are UTF-8")
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// Runs `cargo build --release --target <target>` on the guest crate.
fn cargo_build(manifest: &Path, target_dir: &Path, target: &str, extra: &[&str]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .args(["--target", target])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(extra);
    if let Ok(jobs) = env::var("NUM_JOBS") {
        cmd.args(["--jobs", &jobs]);
    }
    for name in REMOVED_ENV {
        cmd.env_remove(name);
    }
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        if REMOVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) {
            cmd.env_remove(&*name);
        }
    }
    // Cargo reads `cargo:` directives from our stdout; keep the child's off it.
    cmd.stdout(Stdio::from(std::io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    assert!(
        status.success(),
        "building the test guests for {target} failed ({status}); see the output above"
    );
}

fn wasm_path(target_dir: &Path, target: &str, guest: &str) -> PathBuf {
    let path = target_dir
        .join(target)
        .join("release")
        .join(format!("{guest}.wasm"));
    assert!(path.is_file(), "guest build produced no {}", path.display());
    path
}

/// The contents of `test_programs.rs`.
fn generate(guests: &[String], target_dir: &Path) -> String {
    let mut code = String::new();
    let mut suites: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for guest in guests {
        let suite = guest
            .split_once('_')
            .map(|(suite, _)| suite)
            .filter(|suite| SUITES.contains(suite))
            .unwrap_or_else(|| {
                panic!(
                    "guest `{guest}` must be named `<suite>_<name>` with a suite among {SUITES:?}; \
                     for a new suite, add it to SUITES in {} and give it host tests",
                    file!()
                )
            });
        suites.entry(suite).or_default().push(guest);

        let upper = guest.to_uppercase();
        let component = wasm_path(target_dir, P2_TARGET, guest);
        writeln!(
            code,
            "#[doc = \"The `{guest}` guest built for `{P2_TARGET}`: a component.\"]\n\
             pub const {upper}_COMPONENT: &str = {:?};",
            component.display().to_string()
        )
        .unwrap();
        if P1_GUESTS.contains(&guest.as_str()) {
            let module = wasm_path(target_dir, P1_TARGET, guest);
            writeln!(
                code,
                "#[doc = \"The `{guest}` guest built for `{P1_TARGET}`: a core module.\"]\n\
                 pub const {upper}_P1_MODULE: &str = {:?};",
                module.display().to_string()
            )
            .unwrap();
        }
    }
    for guest in P1_GUESTS {
        assert!(
            guests.iter().any(|g| g == guest),
            "P1_GUESTS names `{guest}` but there is no src/bin/{guest}.rs"
        );
    }

    for (suite, members) in suites {
        writeln!(
            code,
            "\n/// Invokes `$mac!(<guest>);` for every `{suite}_*` guest, so a test module\n\
             /// can check that each has a test.\n\
             #[macro_export]\n\
             macro_rules! foreach_{suite} {{\n    ($mac:ident) => {{"
        )
        .unwrap();
        for guest in members {
            writeln!(code, "        $mac!({guest});").unwrap();
        }
        code.push_str("    };\n}\n");
    }
    code
}
