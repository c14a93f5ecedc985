//! pull, push, login, logout.

use std::collections::HashMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use wharf_image::manifest::Platform;
use wharf_image::registry::auth::{CredentialStore, Credentials};
use wharf_image::registry::{Client, Options, Progress};
use wharf_image::{Images, Reference};

/// Docker-style progress lines: one per status change; download bars on a terminal.
pub struct Lines {
    last: Mutex<HashMap<String, String>>,
    tty: bool,
    quiet: bool,
}

impl Lines {
    pub fn new(quiet: bool) -> Self {
        Lines { last: Mutex::new(HashMap::new()), tty: io::stdout().is_terminal(), quiet }
    }
}

fn bar(current: u64, total: u64) -> String {
    const WIDTH: usize = 40;
    let filled = (current.min(total) * WIDTH as u64).checked_div(total).map_or(WIDTH, |f| f as usize);
    format!(
        "[{}>{}] {}/{}",
        "=".repeat(filled.saturating_sub(1)),
        " ".repeat(WIDTH - filled),
        super::images::human_size(current),
        super::images::human_size(total)
    )
}

impl Progress for Lines {
    fn update(&self, id: &str, status: &str, current: u64, total: Option<u64>) {
        if self.quiet {
            return;
        }
        let Ok(mut last) = self.last.lock() else { return };
        let mut out = io::stdout().lock();
        if id.is_empty() {
            let _ = writeln!(out, "{status}");
            return;
        }
        let transfer = status == "Downloading" || status == "Pushing";
        if transfer {
            if self.tty {
                let _ = write!(out, "\r{id}: {status} {}\x1b[K", bar(current, total.unwrap_or(0)));
                let _ = out.flush();
            }
            last.insert(id.to_string(), status.to_string());
            return;
        }
        if last.get(id).map(String::as_str) != Some(status) {
            if self.tty && last.get(id).is_some_and(|s| s == "Downloading" || s == "Pushing") {
                let _ = write!(out, "\r\x1b[K");
            }
            let _ = writeln!(out, "{id}: {status}");
            last.insert(id.to_string(), status.to_string());
        }
    }
}

/// `WHARF_UPLOAD_CHUNK_SIZE` (bytes) switches pushes to chunked uploads.
pub fn client(insecure: &[String]) -> Client {
    let chunk_size = std::env::var("WHARF_UPLOAD_CHUNK_SIZE").ok().and_then(|v| v.parse().ok());
    Client::new(
        CredentialStore::default_location(),
        Options { insecure: insecure.to_vec(), chunk_size, ..Options::default() },
    )
}

pub fn pull(store: &Images, insecure: &[String], name: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let r: Reference = name.parse()?;
    let platform = platform.map(Platform::parse).transpose()?.unwrap_or_else(Platform::host);
    let before = store.db.get(&r.to_string())?.map(|rec| rec.target.digest);
    let progress = Lines::new(quiet);
    client(insecure).pull(store, &r, &platform, &progress)?;
    let after = store.db.get(&r.to_string())?.map(|rec| rec.target.digest);
    if !quiet {
        if before.is_some() && before == after {
            println!("Status: Image is up to date for {}", r.familiar());
        } else {
            println!("Status: Downloaded newer image for {}", r.familiar());
        }
    }
    println!("{r}");
    Ok(())
}

pub fn push(store: &Images, insecure: &[String], name: &str, quiet: bool) -> Result<()> {
    let r: Reference = name.parse()?;
    let progress = Lines::new(quiet);
    let digest = client(insecure).push(store, &r, &progress)?;
    if quiet {
        println!("{}", r.with_digest(digest).familiar());
    }
    Ok(())
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
