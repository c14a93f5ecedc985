//! Docker's namespace modes and the resource options beyond the basic
//! limits, as they go into the OCI spec: `--pid`/`--ipc`/`--uts`/`--cgroupns`
//! (own namespace or the host's), supplementary groups, memory swap,
//! reservation, swappiness and the OOM killer, the OOM score, CFS
//! period/quota, the block I/O weight, the domain name and the terminal size.
//! Validation follows Docker's rules and words; it runs at create (so a bad
//! value is a 400 and nothing is made) and again when the spec is built.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{EngineError, Result};
use crate::RunOptions;

fn invalid(what: &str, reason: String) -> EngineError {
    EngineError::Invalid { what: what.into(), reason }
}

/// What a mode asks of its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Share {
    Own,
    Host,
}

fn share(what: &str, mode: &str, own: &[&str]) -> Result<Share> {
    match mode {
        "host" => Ok(Share::Host),
        m if m.is_empty() || own.contains(&m) => Ok(Share::Own),
        m if m.starts_with("container:") => Err(invalid(
            what,
            format!("{what} {m:?}: joining another container's namespace is not supported by Wharf yet"),
        )),
        m => Err(invalid(what, format!("invalid {what}: {m}"))),
    }
}

/// Docker's checks of the options this module applies.
pub fn validate(opts: &RunOptions) -> Result<()> {
    share("PID mode", &opts.pid_mode, &[])?;
    share("IPC mode", &opts.ipc_mode, &["private", "shareable", "none"])?;
    share("UTS mode", &opts.uts_mode, &[])?;
    share("cgroup namespace mode", &opts.cgroupns_mode, &["private"])?;
    if let Some(s) = opts.memory_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&s) {
            return Err(invalid(
                "memory swappiness",
                format!("Invalid value: {s}, valid memory swappiness range is 0-100"),
            ));
        }
    }
    if let Some(r) = opts.memory_reservation.filter(|r| *r > 0) {
        if r < crate::spec::MIN_MEMORY {
            return Err(invalid("memory reservation", "Minimum memory reservation allowed is 6MB".into()));
        }
        if opts.memory.is_some_and(|m| m > 0 && m < r) {
            return Err(invalid(
                "memory reservation",
                "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
            ));
        }
    }
    if let Some(swap) = opts.memory_swap.filter(|s| *s > 0) {
        match opts.memory {
            None => {
                return Err(invalid(
                    "memory swap",
                    "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
                ))
            }
            Some(m) if swap < m => {
                return Err(invalid(
                    "memory swap",
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ))
            }
            _ => {}
        }
    }
    if let Some(a) = opts.oom_score_adj {
        if !(-1000..=1000).contains(&a) {
            return Err(invalid("OOM score", format!("Invalid value {a}, range for oom score adj is [-1000, 1000]")));
        }
    }
    if let Some(p) = opts.cpu_period.filter(|p| *p != 0) {
        if !(1000..=1_000_000).contains(&p) {
            return Err(invalid(
                "CPU period",
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)".into(),
            ));
        }
    }
    if let Some(q) = opts.cpu_quota.filter(|q| *q != 0 && *q != -1) {
        if q < 1000 {
            return Err(invalid("CPU quota", "CPU cfs quota can not be less than 1ms (i.e. 1000)".into()));
        }
    }
    if opts.cpus.is_some() && (opts.cpu_period.is_some_and(|p| p != 0) || opts.cpu_quota.is_some_and(|q| q > 0)) {
        return Err(invalid("CPU", "Conflicting options: Nano CPUs and CPU Period cannot both be set".into()));
    }
    if let Some(w) = opts.blkio_weight.filter(|w| *w != 0) {
        if !(10..=1000).contains(&w) {
            return Err(invalid("blkio weight", "Range of blkio weight is from 10 to 1000".into()));
        }
    }
    if let Some(d) = &opts.domainname {
        let label_ok =
            |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !d.is_empty() && (d.len() > 255 || !d.split('.').all(label_ok)) {
            return Err(invalid("domainname", format!("invalid domainname {d:?}")));
        }
    }
    Ok(())
}

/// What only a request can get wrong (a built spec carries a hostname of its own).
pub fn validate_request(opts: &RunOptions) -> Result<()> {
    if opts.uts_mode == "host" && opts.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
        return Err(invalid("UTS mode", "conflicting options: hostname and the UTS mode".into()));
    }
    validate(opts)
}

fn drop_namespace(spec: &mut Spec, typ: LinuxNamespaceType) {
    if let Some(linux) = spec.linux_mut() {
        let mut ns = linux.namespaces().clone().unwrap_or_default();
        ns.retain(|n| n.typ() != typ);
        linux.set_namespaces(Some(ns));
    }
}

fn add_namespace(spec: &mut Spec, typ: LinuxNamespaceType) {
    if let Some(linux) = spec.linux_mut() {
        let mut ns = linux.namespaces().clone().unwrap_or_default();
        if !ns.iter().any(|n| n.typ() == typ) {
            let mut n = oci_spec::runtime::LinuxNamespace::default();
            n.set_typ(typ);
            ns.push(n);
        }
        linux.set_namespaces(Some(ns));
    }
}

/// Applies the modes and options to a spec built from the defaults.
/// `group_ids` are `--group-add`'s, resolved in the container's root.
pub fn apply(spec: &mut Spec, opts: &RunOptions, group_ids: &[u32]) -> Result<()> {
    validate(opts)?;
    if share("PID mode", &opts.pid_mode, &[])? == Share::Host {
        drop_namespace(spec, LinuxNamespaceType::Pid);
    }
    if share("IPC mode", &opts.ipc_mode, &["private", "shareable", "none"])? == Share::Host {
        drop_namespace(spec, LinuxNamespaceType::Ipc);
        // The host's IPC namespace comes with the host's /dev/shm.
        if let Some(mounts) = spec.mounts().clone() {
            let kept = mounts.into_iter().filter(|m| m.destination() != std::path::Path::new("/dev/shm")).collect();
            spec.set_mounts(Some(kept));
        }
    }
    if opts.ipc_mode == "none" {
        if let Some(mounts) = spec.mounts().clone() {
            let kept = mounts.into_iter().filter(|m| m.destination() != std::path::Path::new("/dev/shm")).collect();
            spec.set_mounts(Some(kept));
        }
    }
    if share("UTS mode", &opts.uts_mode, &[])? == Share::Host {
        drop_namespace(spec, LinuxNamespaceType::Uts);
        // Without a UTS namespace of its own the container may not set a name.
        spec.set_hostname(None);
        spec.set_domainname(None);
    } else if let Some(d) = opts.domainname.as_ref().filter(|d| !d.is_empty()) {
        spec.set_domainname(Some(d.clone()));
    }
    match share("cgroup namespace mode", &opts.cgroupns_mode, &["private"])? {
        Share::Host => drop_namespace(spec, LinuxNamespaceType::Cgroup),
        Share::Own if opts.cgroupns_mode == "private" => add_namespace(spec, LinuxNamespaceType::Cgroup),
        Share::Own => {}
    }
    if let Some(mut process) = spec.process().clone() {
        if !group_ids.is_empty() {
            let mut user = process.user().clone();
            let mut gids = user.additional_gids().clone().unwrap_or_default();
            for g in group_ids {
                if !gids.contains(g) {
                    gids.push(*g);
                }
            }
            user.set_additional_gids(Some(gids));
            process.set_user(user);
        }
        if let Some(a) = opts.oom_score_adj {
            process.set_oom_score_adj(Some(a));
        }
        if let (true, Some((rows, cols))) = (opts.tty, opts.console_size.filter(|(r, c)| *r > 0 && *c > 0)) {
            let b = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(rows))
                .width(u64::from(cols))
                .build()
                .map_err(|e| invalid("console size", e.to_string()))?;
            process.set_console_size(Some(b));
        }
        spec.set_process(Some(process));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_for(opts: &RunOptions) -> Result<Spec> {
        let mut spec = wharf_runtime::spec::default_spec(false);
        apply(&mut spec, opts, &[20, 30]).map(|()| spec)
    }

    fn has(spec: &Spec, t: LinuxNamespaceType) -> bool {
        spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap().iter().any(|n| n.typ() == t)
    }

    #[test]
    fn modes_drop_or_keep_namespaces() {
        let o = RunOptions {
            pid_mode: "host".into(),
            ipc_mode: "host".into(),
            uts_mode: "host".into(),
            ..Default::default()
        };
        let s = spec_for(&o).unwrap();
        assert!(
            !has(&s, LinuxNamespaceType::Pid) && !has(&s, LinuxNamespaceType::Ipc) && !has(&s, LinuxNamespaceType::Uts)
        );
        assert!(s.hostname().is_none());
        assert!(!s.mounts().as_ref().unwrap().iter().any(|m| m.destination() == std::path::Path::new("/dev/shm")));
        let s = spec_for(&RunOptions {
            ipc_mode: "shareable".into(),
            cgroupns_mode: "private".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(
            has(&s, LinuxNamespaceType::Ipc) && has(&s, LinuxNamespaceType::Cgroup) && has(&s, LinuxNamespaceType::Pid)
        );
        for bad in [
            RunOptions { pid_mode: "bogus".into(), ..Default::default() },
            RunOptions { ipc_mode: "container:abc".into(), ..Default::default() },
            RunOptions { cgroupns_mode: "shared".into(), ..Default::default() },
        ] {
            assert!(matches!(validate(&bad), Err(EngineError::Invalid { .. })), "{bad:?}");
        }
        let named = RunOptions { uts_mode: "host".into(), hostname: Some("h".into()), ..Default::default() };
        assert!(validate(&named).is_ok() && validate_request(&named).is_err());
    }

    #[test]
    fn resources_and_process_options() {
        let o = RunOptions {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            memory_reservation: Some(32 << 20),
            memory_swappiness: Some(10),
            oom_kill_disable: true,
            oom_score_adj: Some(500),
            cpu_period: Some(50_000),
            cpu_quota: Some(25_000),
            blkio_weight: Some(300),
            domainname: Some("example.org".into()),
            tty: true,
            console_size: Some((40, 120)),
            ..Default::default()
        };
        let s = spec_for(&o).unwrap();
        let res = crate::resources::of(&o);
        let mem = res.memory().unwrap();
        assert_eq!(
            (mem.swap(), mem.reservation(), mem.swappiness(), mem.disable_oom_killer()),
            (Some(128 << 20), Some(32 << 20), Some(10), Some(true))
        );
        let cpu = res.cpu().clone().unwrap();
        assert_eq!((cpu.period(), cpu.quota()), (Some(50_000), Some(25_000)));
        assert_eq!(res.block_io().clone().unwrap().weight(), Some(300));
        let p = s.process().clone().unwrap();
        assert_eq!(p.oom_score_adj(), Some(500));
        assert_eq!(p.user().additional_gids().clone().unwrap(), [20, 30]);
        assert_eq!(p.console_size().unwrap().height(), 40);
        assert_eq!(s.domainname().as_deref(), Some("example.org"));
        for bad in [
            RunOptions { memory_swappiness: Some(101), ..Default::default() },
            RunOptions { memory_swap: Some(1 << 30), ..Default::default() },
            RunOptions { memory: Some(64 << 20), memory_swap: Some(32 << 20), ..Default::default() },
            RunOptions { memory: Some(64 << 20), memory_reservation: Some(128 << 20), ..Default::default() },
            RunOptions { oom_score_adj: Some(1001), ..Default::default() },
            RunOptions { cpu_period: Some(10), ..Default::default() },
            RunOptions { cpu_quota: Some(10), ..Default::default() },
            RunOptions { cpus: Some(1.0), cpu_quota: Some(50_000), ..Default::default() },
            RunOptions { blkio_weight: Some(5), ..Default::default() },
        ] {
            assert!(matches!(validate(&bad), Err(EngineError::Invalid { .. })), "{bad:?}");
        }
    }
}
