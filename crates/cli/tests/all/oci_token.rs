//! The bearer-token flow against a real registry: `docker-registry` with
//! `auth: token:` sends clients to `oci_token_server`, which checks their basic
//! credentials and issues scoped JWTs the registry verifies. `skiff registry
//! login`, `push`, `pull` and `up REF` must all go through the token exchange.

use anyhow::{Result, ensure};
use test_programs_artifacts::HTTP_HELLO_COMPONENT;

use crate::harness::{get, tempdir};
use crate::oci::{Env, field, login, login_is_refused, push_ok};
use crate::oci_registry::OciRegistry;
use crate::oci_token_server::{Issued, TokenServer, TokenUser};

/// A token server with a user who may push (`skiffy`) and one who may only pull
/// (`reader`), and a registry that trusts it.
fn token_registry() -> Result<(tempfile::TempDir, TokenServer, OciRegistry)> {
    let dir = tempdir()?;
    let tokens = TokenServer::start(
        dir.path(),
        vec![
            TokenUser::new("skiffy", "correct-horse", &["pull", "push"]),
            TokenUser::new("reader", "read-only", &["pull"]),
        ],
    )?;
    let registry = OciRegistry::start_with_token_auth(&tokens)?;
    Ok((dir, tokens, registry))
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_token_auth_login_push_pull_up() -> Result<()> {
    let (_dir, tokens, registry) = token_registry()?;
    let host = registry.host();
    let env = Env::new()?;
    let reference = registry.reference("private/hello:v1");

    // The registry really is in token mode: it points clients at the realm.
    let resp = get(&format!("http://{host}/v2/")).await?;
    resp.assert_status(401);
    let challenge = resp
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ensure!(
        challenge.starts_with("Bearer ") && challenge.contains(&tokens.realm()),
        "not a bearer challenge for the token server: {challenge:?}"
    );

    // No credentials: the token server refuses, so does the registry.
    let out = env.skiff(&["push", &reference, HTTP_HELLO_COMPONENT, "--insecure"])?;
    out.assert_code(1)
        .assert_stderr_contains(&format!("registry `{host}` refused access"));

    // Wrong password: the token endpoint refuses it; nothing is stored and the
    // password is never shown.
    let refused = tokens.refused();
    login_is_refused(&env, &host, "skiffy", "battery-staple")?;
    ensure!(
        tokens.refused() > refused,
        "the wrong password never reached the token server"
    );
    let config = env.docker.path().join("config.json");

    // Right password: the login check itself is a token exchange.
    login(&env, &host, "skiffy", "correct-horse")?.assert_code(0);
    ensure!(
        tokens.issued().iter().any(|t| t.user == "skiffy"),
        "login issued no token: {:?}",
        tokens.issued()
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&config)?)?;
    assert_eq!(json["auths"][&host]["auth"], "c2tpZmZ5OmNvcnJlY3QtaG9yc2U="); // skiffy:correct-horse

    // Push asks for (and gets) a pull+push token for the repository.
    let digest = push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let push_token = Issued {
        user: "skiffy".into(),
        scopes: vec!["repository:private/hello:pull,push".into()],
    };
    ensure!(
        tokens.issued().contains(&push_token),
        "no push token was issued: {:?}",
        tokens.issued()
    );

    // Pull with a fresh cache: by token, verified, same digest.
    let other = Env::new()?;
    std::fs::copy(&config, other.docker.path().join("config.json"))?;
    let out = other.skiff(&["pull", &reference, "--insecure"])?;
    out.assert_code(0);
    assert_eq!(field(&out, "Digest")?, digest);

    // `skiff up REF` from yet another empty cache: pulled through the token flow and served.
    let served = Env::new()?;
    std::fs::copy(&config, served.docker.path().join("config.json"))?;
    let cwd = tempdir()?;
    let server = served.serve(&reference, &["--insecure"], cwd.path())?;
    let resp = get(&server.url("/")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    Ok(())
}

#[test]
fn oci_token_without_push_scope_is_a_clear_error() -> Result<()> {
    let (_dir, tokens, registry) = token_registry()?;
    let host = registry.host();
    let reference = registry.reference("shared/hello:v1");

    let writer = Env::new()?;
    login(&writer, &host, "skiffy", "correct-horse")?.assert_code(0);
    let digest = push_ok(&writer, &reference, HTTP_HELLO_COMPONENT)?;

    // `reader`'s credentials are right (login passes, pulls work) …
    let reader = Env::new()?;
    login(&reader, &host, "reader", "read-only")?.assert_code(0);
    let out = reader.skiff(&["pull", &reference, "--insecure"])?;
    out.assert_code(0);
    assert_eq!(field(&out, "Digest")?, digest);

    // … but its tokens carry no push: the push is refused and the error says
    // why, naming the registry and the reference.
    let other = registry.reference("shared/other:v1");
    let out = reader.skiff(&["push", &other, HTTP_HELLO_COMPONENT, "--insecure"])?;
    out.assert_code(1)
        .assert_stderr_contains(&format!("registry `{host}`"))
        .assert_stderr_contains(&format!("`{other}`"))
        .assert_stderr_contains("no push access");
    ensure!(
        tokens
            .issued()
            .iter()
            .any(|t| t.user == "reader" && t.scopes == ["repository:shared/other:pull"]),
        "the token server was not asked for push: {:?}",
        tokens.issued()
    );
    // Nothing was written.
    reader
        .skiff(&["pull", &other, "--insecure"])?
        .assert_code(1)
        .assert_stderr_contains("was not found");
    Ok(())
}
