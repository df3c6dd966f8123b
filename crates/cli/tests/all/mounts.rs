//! `skiff up --allow-transient-write` and `--direct-mounts`, as in Spin: a
//! component may write to its `files` mounts, to copies made at start (the
//! host's files unchanged, the copies gone at the next start) or, with
//! `--direct-mounts`, to the host directory itself. A grant that maps single
//! files is always copied. Without the flags, mounts are read-only (see
//! `http::http_files`).

use anyhow::Result;
use test_programs_artifacts::HTTP_FILES_COMPONENT;

use crate::harness::{AppDir, Server, full, get, post, shared_cache};
use crate::http::component;

/// `http_files` at `/dir` with `static/` mounted at `/`, and at `/glob` with
/// `assets/*.txt`.
fn app() -> Result<AppDir> {
    let app = AppDir::with_manifest(
        &[
            component(
                "/dir",
                "dir",
                HTTP_FILES_COMPONENT,
                "files = [{ source = \"static\", destination = \"/\" }]",
            ),
            component(
                "/glob",
                "glob",
                HTTP_FILES_COMPONENT,
                "files = [\"assets/*.txt\"]",
            ),
        ]
        .concat(),
    )?;
    app.write("static/index.html", "host index")?;
    app.write("assets/a.txt", "host a")?;
    Ok(app)
}

/// Starts the app with `flags`, writes `/index.html` through `/dir` and
/// `/assets/a.txt` through `/glob`, and answers what each guest then reads.
async fn write_both(app: &AppDir, flags: &[&str]) -> Result<(String, String)> {
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.args(flags);
    })?;
    let mut read = Vec::new();
    for (route, file) in [("/dir", "/index.html"), ("/glob", "/assets/a.txt")] {
        let url = |q: &str| server.url(&format!("{route}?{q}"));
        let resp = post(&url(&format!("write={file}")), full("guest wrote")).await?;
        resp.assert_status(200);
        let resp = get(&url(&format!("path={file}"))).await?;
        resp.assert_status(200);
        read.push(resp.text());
    }
    Ok((read.remove(0), read.remove(0)))
}

fn host(app: &AppDir, file: &str) -> Result<String> {
    Ok(std::fs::read_to_string(app.path().join(file))?)
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_writes_go_to_copies_or_with_direct_mounts_to_the_host() -> Result<()> {
    let app = app()?;

    // Copies: the guest reads what it wrote; the host's files are untouched.
    let (dir, glob) = write_both(&app, &["--allow-transient-write"]).await?;
    assert_eq!(
        (dir.as_str(), glob.as_str()),
        ("guest wrote", "guest wrote")
    );
    assert_eq!(host(&app, "static/index.html")?, "host index");
    assert_eq!(host(&app, "assets/a.txt")?, "host a");

    // The next start copies afresh: the earlier writes are gone.
    let server = Server::start(app.path(), shared_cache()?)?;
    let resp = get(&server.url("/dir?path=/index.html")).await?;
    assert_eq!(resp.text(), "host index");
    let resp = post(&server.url("/dir?write=/index.html"), full("x")).await?;
    resp.assert_status(403);
    drop(server);

    // Direct: the directory mount is the host's; the single-file grant is
    // still a copy.
    let (dir, glob) = write_both(&app, &["--allow-transient-write", "--direct-mounts"]).await?;
    assert_eq!(
        (dir.as_str(), glob.as_str()),
        ("guest wrote", "guest wrote")
    );
    assert_eq!(host(&app, "static/index.html")?, "guest wrote");
    assert_eq!(host(&app, "assets/a.txt")?, "host a");
    Ok(())
}

/// `--direct-mounts` alone changes nothing a guest can do: still read-only.
#[tokio::test(flavor = "multi_thread")]
async fn direct_mounts_alone_are_read_only() -> Result<()> {
    let app = app()?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--direct-mounts");
    })?;
    let resp = get(&server.url("/dir?path=/index.html")).await?;
    assert_eq!(resp.text(), "host index");
    post(&server.url("/dir?write=/index.html"), full("x"))
        .await?
        .assert_status(403);
    post(&server.url("/dir?write=/new.txt"), full("x"))
        .await?
        .assert_status(403);
    assert!(!app.path().join("static/new.txt").exists());
    Ok(())
}
