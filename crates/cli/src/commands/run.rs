//! `wharf run`: a container from an image, in the foreground.

use anyhow::{bail, Context, Result};
use clap::Args;
use wharf_engine::{Engine, RunOptions};

#[derive(Args)]
pub struct RunArgs {
    /// Remove the container when it exits (foreground runs are always removed until the daemon lands)
    #[arg(long)]
    rm: bool,
    /// Run in the background (needs the daemon)
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a terminal
    #[arg(short, long)]
    tty: bool,
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Bind mount or volume: /host:/ctr[:ro], name:/ctr[:ro], /ctr (anonymous)
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// name=soft[:hard], e.g. nofile=1024:2048
    #[arg(long)]
    ulimit: Vec<String>,
    /// tmpfs mount at this path
    #[arg(long)]
    tmpfs: Vec<String>,
    #[arg(short, long)]
    workdir: Option<String>,
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long)]
    hostname: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    entrypoint: Option<String>,
    #[arg(long = "read-only")]
    read_only: bool,
    #[arg(long)]
    privileged: bool,
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short, long)]
    memory: Option<String>,
    #[arg(long)]
    cpus: Option<f64>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// CPUs allowed (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes allowed (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Network: none (own loopback, the default without a daemon), bridge, host, a network name, container:<id>
    #[arg(long, alias = "net", default_value = "none")]
    network: String,
    /// Publish a port: [ip:][host-port:]container-port[/proto]
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// DNS server for the container
    #[arg(long)]
    dns: Vec<String>,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `64m` → bytes (Docker's units: b, k, m, g, binary multiples).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last() {
        Some('b') => (&s[..s.len() - 1], 1),
        Some('k') => (&s[..s.len() - 1], 1 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s.as_str(), 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    if n < 0.0 {
        bail!("invalid size {s:?}: negative");
    }
    Ok((n * mult as f64) as i64)
}

pub fn run(engine: &Engine, a: &RunArgs) -> Result<i32> {
    if a.detach {
        bail!("detached containers need the Wharf daemon, which is not available yet: run in the foreground");
    }
    let _ = (a.rm, a.interactive, &a.name);
    let mut mounts = Vec::new();
    for v in &a.volume {
        mounts.push(wharf_engine::volumes::MountRequest::parse_bind(v)?);
    }
    for t in &a.tmpfs {
        mounts.push(wharf_engine::volumes::MountRequest {
            typ: "tmpfs".into(),
            target: t.clone(),
            ..Default::default()
        });
    }
    let mut ulimits = Vec::new();
    for u in &a.ulimit {
        let (name, vals) = u.split_once('=').with_context(|| format!("invalid ulimit {u:?}: use name=soft[:hard]"))?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        ulimits.push((
            name.to_string(),
            soft.parse().with_context(|| format!("invalid ulimit {u:?}"))?,
            hard.parse().with_context(|| format!("invalid ulimit {u:?}"))?,
        ));
    }
    let opts = RunOptions {
        ulimits,
        mounts,
        image: a.image.clone(),
        cmd: a.command.clone(),
        entrypoint: a.entrypoint.as_ref().map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        env: a.env.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        tty: a.tty,
        read_only: a.read_only,
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        memory: a.memory.as_deref().map(parse_bytes).transpose()?,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        init: a.init,
        network: a.network.clone(),
        publish: a
            .publish
            .iter()
            .map(|p| wharf_engine::network::PortBinding::parse(p))
            .collect::<Result<Vec<_>, _>>()?
            .concat(),
        extra_hosts: a.add_host.clone(),
        dns: a.dns.clone(),
        ..Default::default()
    };
    Ok(engine.run(&opts, std::path::Path::new("/proc/self/exe"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert!(parse_bytes("lots").is_err());
    }
}
