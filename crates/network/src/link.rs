//! Link plumbing through iproute2 (`ip`): named network namespaces, bridges,
//! veth pairs, addresses and routes. Commands are batched (`ip -batch -`) so a
//! container's wiring costs two or three process spawns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{NetworkError, Result};

fn run(args: &[&str], input: Option<&str>) -> Result<()> {
    let command = format!("ip {}", args.join(" "));
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::Command {
            command: command.clone(),
            message: format!("{e} (is iproute2 installed?)"),
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Command { command: command.clone(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NetworkError::Command { command: format!("{command} {}", input.unwrap_or("").trim()), message });
    }
    Ok(())
}

/// Runs iproute2 commands (one per line), optionally inside netns `ns`.
pub fn batch(ns: Option<&str>, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    run(&args, Some(&(lines.join("\n") + "\n")))
}

/// Whether link `dev` exists in our network namespace (`/proc/net/dev` is
/// per namespace; `/sys/class/net` shows the namespace sysfs was mounted in).
pub fn exists(dev: &str) -> bool {
    std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .any(|l| l.split(':').next().map(str::trim) == Some(dev))
}

/// A named network namespace (`/run/netns/<name>`).
pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

pub fn add_netns(name: &str) -> Result<PathBuf> {
    let path = netns_path(name);
    if !path.exists() {
        run(&["netns", "add", name], None)?;
    }
    Ok(path)
}

pub fn delete_netns(name: &str) {
    if netns_path(name).exists() {
        if let Err(e) = run(&["netns", "delete", name], None) {
            tracing::warn!("{e}");
        }
    }
}

/// Creates bridge `dev` with `gateway/prefix` unless it exists.
pub fn ensure_bridge(dev: &str, gateway: &str, prefix: u8) -> Result<()> {
    if exists(dev) {
        return Ok(());
    }
    let result = batch(
        None,
        &[
            format!("link add name {dev} type bridge"),
            format!("addr add {gateway}/{prefix} dev {dev}"),
            format!("link set {dev} up"),
        ],
    );
    if result.is_err() && exists(dev) {
        // A concurrent start created it first.
        return Ok(());
    }
    result
}

pub fn delete_link(dev: &str) {
    if exists(dev) {
        let _ = run(&["link", "delete", dev], None);
    }
}
