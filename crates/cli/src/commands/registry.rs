//! `skiff registry login|logout`: credentials in Docker's `config.json`.

use std::io::Read;

use anyhow::{Context, Result, bail};
use skiff_oci::Registry;
use skiff_oci::auth;

/// Arguments of `skiff registry`.
#[derive(clap::Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(clap::Subcommand)]
enum RegistryCommand {
    /// Check credentials against a registry, then store them in Docker's config.json.
    Login(LoginArgs),
    /// Remove a registry's credentials from Docker's config.json.
    Logout(LogoutArgs),
}

#[derive(clap::Args)]
struct LoginArgs {
    /// The registry host (`ghcr.io`, `127.0.0.1:5000`).
    server: String,
    /// The user name.
    #[arg(long, short = 'u')]
    username: String,
    /// Read the password (or token) from stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Talk plain HTTP to the registry (one on loopback or a private network).
    #[arg(long)]
    insecure: bool,
}

#[derive(clap::Args)]
struct LogoutArgs {
    /// The registry host.
    server: String,
}

/// Runs `skiff registry …`.
pub fn registry(args: RegistryArgs) -> Result<()> {
    match args.command {
        RegistryCommand::Login(args) => login(args),
        RegistryCommand::Logout(args) => logout(args),
    }
}

/// `https://ghcr.io/v2/` → `ghcr.io`.
fn host_of(server: &str) -> Result<String> {
    let host = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = host.split('/').next().unwrap_or(host);
    if host.is_empty() {
        bail!("`{server}` does not name a registry host");
    }
    Ok(host.to_string())
}

fn login(args: LoginArgs) -> Result<()> {
    let host = host_of(&args.server)?;
    if !args.password_stdin {
        bail!(
            "give the password on stdin: `… | skiff registry login {host} --username {} --password-stdin`",
            args.username
        );
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("could not read the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password on stdin for registry `{host}`");
    }
    let registry = Registry::with_auth(
        host.clone(),
        skiff_oci::RegistryAuth::Basic(args.username.clone(), password.clone()),
        &super::pull::registry_options(args.insecure),
    );
    super::pull::runtime()?
        .block_on(registry.check_credentials())
        .with_context(|| format!("login to registry `{host}` failed"))?;
    let path = auth::store_credentials(&host, &args.username, &password)
        .with_context(|| format!("could not store the credentials for registry `{host}`"))?;
    println!(
        "Login succeeded: credentials for `{host}` stored in {}",
        path.display()
    );
    Ok(())
}

fn logout(args: LogoutArgs) -> Result<()> {
    let host = host_of(&args.server)?;
    if auth::remove_credentials(&host)
        .with_context(|| format!("could not remove the credentials for registry `{host}`"))?
    {
        println!("Removed the credentials for `{host}`");
    } else {
        println!("No credentials were stored for `{host}`");
    }
    Ok(())
}
