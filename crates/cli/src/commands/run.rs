//! `wharf run`: a container from an image, in the foreground.

use anyhow::{bail, Context, Result};
use wharf_engine::{Engine, RunOptions};

use super::containers::RunArgs;

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

/// `wharf run` without a daemon: the container runs in the foreground of
/// this process and is removed when it exits (podman-style). Flags that need
/// a daemon (detach, restart policies) are refused.
pub fn run(engine: &Engine, a: &RunArgs) -> Result<i32> {
    let f = &a.flags;
    if a.detach {
        bail!("detached containers need the Wharf daemon: start `wharf daemon` (or run in the foreground)");
    }
    if !f.network_alias.is_empty() || f.ip.is_some() || f.mac_address.is_some() {
        bail!("--network-alias, --ip and --mac-address need the Wharf daemon: without it a container has no network endpoint");
    }
    if a.detach_keys.is_some() {
        bail!("--detach-keys needs the Wharf daemon: a container run without it ends with its session");
    }
    if f.runtime.as_deref().is_some_and(|r| r != wharf_engine::runtimes::BUILTIN) {
        bail!("--runtime needs the Wharf daemon: without it containers run with the built-in runtime");
    }
    if f.restart.as_deref().is_some_and(|r| r != "no") {
        bail!("restart policies need the Wharf daemon: start `wharf daemon`");
    }
    let mut mounts = Vec::new();
    for v in &f.volume {
        mounts.push(wharf_engine::volumes::MountRequest::parse_bind(v)?);
    }
    for t in &f.tmpfs {
        let (target, options) = t.split_once(':').unwrap_or((t, ""));
        wharf_engine::volumes::tmpfs_options(options)?;
        mounts.push(wharf_engine::volumes::MountRequest {
            typ: "tmpfs".into(),
            target: target.to_string(),
            tmpfs_options: options.to_string(),
            ..Default::default()
        });
    }
    let mut ulimits = Vec::new();
    for u in &f.ulimit {
        let (name, vals) = u.split_once('=').with_context(|| format!("invalid ulimit {u:?}: use name=soft[:hard]"))?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        ulimits.push((
            name.to_string(),
            soft.parse().with_context(|| format!("invalid ulimit {u:?}"))?,
            hard.parse().with_context(|| format!("invalid ulimit {u:?}"))?,
        ));
    }
    let mut publish = Vec::new();
    for p in &f.publish {
        publish.extend(wharf_engine::network::PortBinding::parse(p)?);
    }
    let (security_opt, sysctls) = super::containers::security_flags(f)?;
    let opts = RunOptions {
        security_opt,
        sysctls,
        cpu_shares: f.cpu_shares,
        shm_size: f.shm_size.as_deref().map(parse_bytes).transpose()?,
        ulimits,
        mounts,
        image: a.image.clone(),
        cmd: a.command.clone(),
        entrypoint: f.entrypoint.as_ref().map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        env: f.env.clone(),
        workdir: f.workdir.clone(),
        user: f.user.clone(),
        hostname: f.hostname.clone(),
        tty: f.tty,
        read_only: f.read_only,
        privileged: f.privileged,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        memory: f.memory.as_deref().map(parse_bytes).transpose()?,
        cpus: f.cpus,
        pids_limit: f.pids_limit,
        cpuset_cpus: f.cpuset_cpus.clone(),
        init: f.init,
        // Without a daemon the default is a namespace of its own with loopback only.
        network: f.network.clone().unwrap_or_else(|| "none".into()),
        publish,
        extra_hosts: f.add_host.clone(),
        dns: f.dns.clone(),
        pid_mode: f.pid.clone().unwrap_or_default(),
        ipc_mode: f.ipc.clone().unwrap_or_default(),
        uts_mode: f.uts.clone().unwrap_or_default(),
        cgroupns_mode: f.cgroupns.clone().unwrap_or_default(),
        group_add: f.group_add.clone(),
        devices: super::containers::devices(f)?,
        device_cgroup_rules: f.device_cgroup_rule.clone(),
        memory_swap: super::containers::memory_swap(f)?,
        memory_reservation: f.memory_reservation.as_deref().map(parse_bytes).transpose()?,
        memory_swappiness: f.memory_swappiness.filter(|s| *s != -1),
        oom_kill_disable: f.oom_kill_disable,
        oom_score_adj: f.oom_score_adj,
        cpu_period: f.cpu_period,
        cpu_quota: f.cpu_quota,
        blkio_weight: f.blkio_weight,
        dns_search: f.dns_search.clone(),
        dns_options: f.dns_option.clone(),
        domainname: f.domainname.clone(),
        console_size: if f.tty { super::containers::terminal_size() } else { None },
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
