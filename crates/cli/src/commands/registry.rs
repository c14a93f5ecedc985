//! The registry client (for the local image engine's pull and push), login, logout.

use std::io::{self, BufRead, IsTerminal};

use anyhow::{bail, Context, Result};
use wharf_image::registry::auth::{CredentialStore, Credentials};
use wharf_image::registry::{Client, Options};

/// `WHARF_UPLOAD_CHUNK_SIZE` (bytes) switches pushes to chunked uploads.
pub fn client(insecure: &[String]) -> Client {
    let chunk_size = std::env::var("WHARF_UPLOAD_CHUNK_SIZE").ok().and_then(|v| v.parse().ok());
    Client::new(
        CredentialStore::default_location(),
        Options { insecure: insecure.to_vec(), chunk_size, ..Options::default() },
    )
}

pub fn login(
    insecure: &[String],
    server: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
    password_stdin: bool,
) -> Result<()> {
    let registry = server
        .map(|s| s.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/'))
        .unwrap_or("docker.io");
    let registry = if registry == "index.docker.io/v1" { "docker.io" } else { registry };
    let username = match username {
        Some(u) => u.to_string(),
        None => {
            if !io::stdin().is_terminal() {
                bail!("username required (-u) when stdin is not a terminal");
            }
            eprint!("Username: ");
            let mut u = String::new();
            io::stdin().lock().read_line(&mut u)?;
            u.trim().to_string()
        }
    };
    let password = match (password, password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.to_string()
        }
        (None, _) => {
            if !password_stdin && io::stdin().is_terminal() {
                eprint!("Password: ");
            }
            let mut p = String::new();
            io::stdin().lock().read_line(&mut p).context("read password")?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    client(insecure).login(registry, &Credentials { username, password })?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(server: Option<&str>) -> Result<()> {
    let registry = server
        .map(|s| s.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/'))
        .unwrap_or("docker.io");
    if CredentialStore::default_location().remove(registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}
