//! The OCI spec of a container: the runtime's defaults, Docker's default
//! capabilities and seccomp profile, the image config (Entrypoint, Cmd, Env,
//! WorkingDir, User) and the request's overrides, merged as Docker does.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{Capability, LinuxCapabilities, Mount, PosixRlimitBuilder, PosixRlimitType, Spec};
use wharf_image::manifest::RunConfig;

use crate::error::{EngineError, Result};
use crate::security::Seccomp;
use crate::user::Resolved;
use crate::RunOptions;

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn parse_cap(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    serde_json::from_value(serde_json::Value::String(full.clone()))
        .map_err(|_| EngineError::Invalid { what: "capability".into(), reason: format!("unknown capability {name:?}") })
}

/// The effective capability set after `--cap-add`/`--cap-drop` (`ALL` allowed).
pub fn capabilities(add: &[String], drop: &[String]) -> Result<HashSet<Capability>> {
    let mut set: HashSet<Capability> = DEFAULT_CAPS.iter().map(|c| parse_cap(c)).collect::<Result<_>>()?;
    if drop.iter().any(|d| d.eq_ignore_ascii_case("all")) {
        set.clear();
    }
    for d in drop.iter().filter(|d| !d.eq_ignore_ascii_case("all")) {
        set.remove(&parse_cap(d)?);
    }
    if add.iter().any(|a| a.eq_ignore_ascii_case("all")) {
        // "All" means all this process may grant: its bounding set (a sandboxed
        // engine may lack some, and the kernel refuses those).
        let all = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::all());
        for c in all {
            if let Ok(cap) = parse_cap(&c.to_string()) {
                set.insert(cap);
            }
        }
    }
    for a in add.iter().filter(|a| !a.eq_ignore_ascii_case("all")) {
        set.insert(parse_cap(a)?);
    }
    Ok(set)
}

/// Image `Entrypoint` + `Cmd` with the request's overrides (Docker's rules).
pub fn command(image: &RunConfig, opts: &RunOptions) -> Result<Vec<String>> {
    let (entrypoint, cmd) = match &opts.entrypoint {
        Some(ep) => (ep.clone(), opts.cmd.clone()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            if opts.cmd.is_empty() { image.cmd.clone().unwrap_or_default() } else { opts.cmd.clone() },
        ),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(EngineError::NoCommand);
    }
    Ok(args)
}

/// Image `Env`, then the request's (same key: the request wins), then defaults.
pub fn environment(image: &RunConfig, opts: &RunOptions, hostname: &str, home: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: &str| {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.to_string());
    };
    set("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    set(&format!("HOSTNAME={hostname}"));
    for e in image.env.iter().flatten() {
        set(e);
    }
    for e in &opts.env {
        if e.contains('=') {
            set(e);
        } else if let Ok(v) = std::env::var(e) {
            set(&format!("{e}={v}"));
        }
    }
    if opts.tty {
        set("TERM=xterm");
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Builds the container's spec. `rootfs` is the mounted root filesystem.
pub fn build(
    id: &str,
    image: &RunConfig,
    opts: &RunOptions,
    rootfs: &Path,
    user: &Resolved,
    extra_mounts: Vec<Mount>,
) -> Result<Spec> {
    // The same rules as at create (a record may predate them).
    validate(opts)?;
    let mut spec = wharf_runtime::spec::default_spec(false);
    let hostname = opts.hostname.clone().unwrap_or_else(|| id[..12].to_string());
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(command(image, opts)?));
    process.set_env(Some(environment(image, opts, &hostname, &user.home)));
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| image.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(EngineError::Invalid {
            what: "working directory".into(),
            reason: format!("{cwd:?} is not absolute"),
        });
    }
    process.set_cwd(cwd.into());
    process.set_terminal(Some(opts.tty));
    if !opts.ulimits.is_empty() {
        let mut limits = process.rlimits().clone().unwrap_or_default();
        for (name, soft, hard) in &opts.ulimits {
            let typ: PosixRlimitType =
                serde_json::from_value(serde_json::Value::String(format!("RLIMIT_{}", name.to_ascii_uppercase())))
                    .map_err(|_| EngineError::Invalid {
                        what: "ulimit".into(),
                        reason: format!("unknown ulimit {name:?}"),
                    })?;
            limits.retain(|l| l.typ() != typ);
            let l = PosixRlimitBuilder::default()
                .typ(typ)
                .soft(*soft)
                .hard(*hard)
                .build()
                .map_err(|e| EngineError::Invalid { what: "ulimit".into(), reason: e.to_string() })?;
            limits.push(l);
        }
        process.set_rlimits(Some(limits));
    }
    let security = crate::security::parse(&opts.security_opt)?;
    process.set_no_new_privileges(Some(security.no_new_privileges));
    if let Some(p) = security.apparmor.as_ref().filter(|p| p.as_str() != "unconfined") {
        process.set_apparmor_profile(Some(p.clone()));
    }
    let mut u = process.user().clone();
    u.set_uid(user.uid);
    u.set_gid(user.gid);
    u.set_additional_gids((!user.additional_gids.is_empty()).then(|| user.additional_gids.clone()));
    process.set_user(u);
    let caps = if opts.privileged {
        capabilities(&["ALL".into()], &[])?
    } else {
        capabilities(&opts.cap_add, &opts.cap_drop)?
    };
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(caps.clone()));
    c.set_effective(Some(caps.clone()));
    c.set_permitted(Some(caps.clone()));
    c.set_inheritable(None);
    c.set_ambient(None);
    process.set_capabilities(Some(c));
    spec.set_process(Some(process));
    spec.set_hostname(Some(hostname));
    if opts.init {
        let mut ann = spec.annotations().clone().unwrap_or_default();
        ann.insert(wharf_runtime::INIT_ANNOTATION.into(), "true".into());
        spec.set_annotations(Some(ann));
    }
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(rootfs.to_path_buf());
    root.set_readonly(Some(opts.read_only));
    spec.set_root(Some(root));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if let Some(size) = opts.shm_size.filter(|s| *s > 0) {
        for m in mounts.iter_mut().filter(|m| m.destination() == Path::new("/dev/shm")) {
            let mut o: Vec<String> = m.options().clone().unwrap_or_default();
            o.retain(|x| !x.starts_with("size="));
            o.push(format!("size={size}"));
            m.set_options(Some(o));
        }
    }
    mounts.extend(extra_mounts);
    spec.set_mounts(Some(mounts));
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(format!("/wharf/{id}").into()));
        if opts.privileged || security.unconfined_paths {
            linux.set_masked_paths(Some(Vec::new()));
            linux.set_readonly_paths(Some(Vec::new()));
        }
        linux.set_seccomp(match (&security.seccomp, opts.privileged) {
            (_, true) | (Seccomp::Unconfined, _) => None,
            (Seccomp::Default, false) => Some(wharf_runtime::seccomp::docker::default_profile(&caps)),
            (Seccomp::Profile(json), false) => Some(crate::security::translate_profile(json, &caps)?),
        });
        if !opts.sysctls.is_empty() {
            crate::security::check_sysctls(&opts.sysctls, &crate::network::mode(opts))?;
            linux.set_sysctl(Some(opts.sysctls.clone().into_iter().collect()));
        }
        let mut res = crate::resources::of(opts);
        let mut rules = crate::security::device_policy(opts.privileged);
        rules.extend(crate::devices::cgroup_rules(&opts.devices, &opts.device_cgroup_rules)?);
        res.set_devices(Some(rules));
        if !opts.devices.is_empty() {
            let mut devices = linux.devices().clone().unwrap_or_default();
            devices.extend(crate::devices::linux_devices(&opts.devices)?);
            linux.set_devices(Some(devices));
        }
        linux.set_resources(Some(res));
    }
    Ok(spec)
}

/// Docker's minimum memory limit.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn invalid(what: &str, reason: String) -> EngineError {
    EngineError::Invalid { what: what.into(), reason }
}

/// The CPUs (or memory nodes) listed in a sysfs `online` file.
fn online(path: &str) -> Option<std::collections::BTreeSet<u32>> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_cpu_list(text.trim())
}

fn parse_cpu_list(s: &str) -> Option<std::collections::BTreeSet<u32>> {
    if !valid_cpu_list(s) {
        return None;
    }
    // No host has more CPUs or memory nodes than the kernel's limit (8192):
    // larger indexes are refused before any range is expanded.
    const MAX_INDEX: u32 = 8191;
    let mut out = std::collections::BTreeSet::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
        if b > MAX_INDEX {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

/// Checks what `create` must refuse with a 400 rather than fail at start or
/// silently run (Docker's rules and messages where it has them).
pub fn validate(opts: &RunOptions) -> Result<()> {
    crate::modes::validate(opts)?;
    for d in &opts.devices {
        d.check()?;
    }
    for r in &opts.device_cgroup_rules {
        crate::devices::parse_rule(r)?;
    }
    for s in opts.endpoint_settings.values() {
        s.request(Vec::new())?;
    }
    if let Some(m) = opts.memory {
        if m < MIN_MEMORY {
            return Err(invalid("memory", "Minimum memory limit allowed is 6MB".into()));
        }
    }
    if let Some(c) = opts.cpus {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let n = online("/sys/devices/system/cpu/online").map(|s| s.len()).unwrap_or(n);
        if !(0.01..=n as f64).contains(&c) {
            return Err(invalid(
                "NanoCPUs",
                format!("Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"),
            ));
        }
    }
    if opts.pids_limit.is_some_and(|p| p < -1) {
        return Err(invalid("PidsLimit", "pids limit must be -1 (unlimited) or positive".into()));
    }
    if let Some(s) = opts.cpu_shares.filter(|s| *s < 0) {
        return Err(invalid("CpuShares", format!("invalid CPU shares ({s}): must not be negative")));
    }
    if let Some(s) = opts.shm_size.filter(|s| *s < 0) {
        return Err(invalid("ShmSize", format!("SHM size can not be less than 0 ({s})")));
    }
    for (name, soft, hard) in &opts.ulimits {
        if soft > hard {
            return Err(invalid("ulimit", format!("{name}: soft limit {soft} exceeds hard limit {hard}")));
        }
    }
    if let Some(h) = &opts.hostname {
        if h.len() > 64 {
            return Err(invalid("hostname", format!("{h:?} is longer than 64 characters")));
        }
    }
    for (what, v, file) in [
        ("cpuset-cpus", &opts.cpuset_cpus, "/sys/devices/system/cpu/online"),
        ("cpuset-mems", &opts.cpuset_mems, "/sys/devices/system/node/online"),
    ] {
        let Some(v) = v else { continue };
        let Some(want) = parse_cpu_list(v) else {
            return Err(invalid(what, format!("{v:?} is not a list like 0-2,4")));
        };
        let available = online(file).unwrap_or_else(|| [0].into_iter().collect());
        if !want.is_subset(&available) {
            let have: Vec<String> = available.iter().map(u32::to_string).collect();
            return Err(invalid(
                what,
                format!(
                    "Requested {} are not available - requested {v}, available: {}",
                    if what == "cpuset-cpus" { "CPUs" } else { "memory nodes" },
                    have.join(",")
                ),
            ));
        }
    }
    crate::security::check_host(&crate::security::parse(&opts.security_opt)?)?;
    crate::security::check_sysctls(&opts.sysctls, &crate::network::mode(opts))?;
    Ok(())
}

/// Network namespace of the spec: the host's (no entry), one to join (a
/// path), or a new one (the default spec's entry).
pub fn set_network_namespace(spec: &mut Spec, mode: crate::network::Mode, path: Option<&Path>) {
    use oci_spec::runtime::LinuxNamespaceType;
    let Some(linux) = spec.linux_mut() else { return };
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    match (mode, path) {
        (crate::network::Mode::Host, _) => namespaces.retain(|n| n.typ() != LinuxNamespaceType::Network),
        (_, Some(p)) => {
            for n in namespaces.iter_mut().filter(|n| n.typ() == LinuxNamespaceType::Network) {
                n.set_path(Some(p.to_path_buf()));
            }
        }
        (_, None) => {}
    }
    linux.set_namespaces(Some(namespaces));
}

/// `0-3,5`: comma-separated numbers and ranges.
pub(crate) fn valid_cpu_list(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-').map(|n| n.parse::<u32>());
            match (ends.next(), ends.next()) {
                (Some(Ok(a)), Some(Ok(b))) => a <= b,
                (Some(Ok(_)), None) => true,
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        RunOptions { image: "x".into(), ..Default::default() }
    }

    #[test]
    fn command_rules() {
        let img = RunConfig { entrypoint: Some(vec!["/ep".into()]), cmd: Some(vec!["a".into()]), ..Default::default() };
        assert_eq!(command(&img, &opts()).unwrap(), ["/ep", "a"]);
        let o = RunOptions { cmd: vec!["b".into()], ..opts() };
        assert_eq!(command(&img, &o).unwrap(), ["/ep", "b"]);
        let o = RunOptions { entrypoint: Some(vec!["sh".into()]), ..opts() };
        assert_eq!(command(&img, &o).unwrap(), ["sh"], "a new entrypoint drops the image's Cmd");
        assert!(matches!(command(&RunConfig::default(), &opts()), Err(EngineError::NoCommand)));
    }

    #[test]
    fn environment_merges() {
        let img = RunConfig { env: Some(vec!["PATH=/bin".into(), "A=1".into()]), ..Default::default() };
        let o = RunOptions { env: vec!["A=2".into(), "B=3".into()], tty: true, ..opts() };
        let env = environment(&img, &o, "h", "/root");
        assert!(env.contains(&"PATH=/bin".to_string()));
        assert!(env.contains(&"A=2".to_string()) && !env.contains(&"A=1".to_string()));
        assert!(
            env.contains(&"TERM=xterm".to_string())
                && env.contains(&"HOME=/root".to_string())
                && env.contains(&"HOSTNAME=h".to_string())
        );
    }

    #[test]
    fn validation_table() {
        let ok = opts();
        validate(&ok).unwrap();
        let cases: Vec<RunOptions> = vec![
            RunOptions { memory: Some(1024), ..opts() },
            RunOptions { memory: Some(-1), ..opts() },
            RunOptions { cpus: Some(-0.5), ..opts() },
            RunOptions { cpus: Some(100_000.0), ..opts() },
            RunOptions { pids_limit: Some(-5), ..opts() },
            RunOptions { cpu_shares: Some(-2), ..opts() },
            RunOptions { shm_size: Some(-1), ..opts() },
            RunOptions { ulimits: vec![("nofile".into(), 10, 5)], ..opts() },
            RunOptions { hostname: Some("h".repeat(65)), ..opts() },
            RunOptions { cpuset_cpus: Some("4096".into()), ..opts() },
            RunOptions { cpuset_cpus: Some("x".into()), ..opts() },
            RunOptions { cpuset_cpus: Some("0-4294967295".into()), ..opts() },
            RunOptions { cpuset_mems: Some("0-100000000".into()), ..opts() },
            RunOptions { security_opt: vec!["bogus".into()], ..opts() },
            RunOptions { sysctls: [("kernel.hostname".to_string(), "x".to_string())].into(), ..opts() },
            RunOptions {
                network: "host".into(),
                sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
                ..opts()
            },
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(matches!(validate(c), Err(EngineError::Invalid { .. })), "case {i}: {c:?}");
        }
        for fine in [
            RunOptions { memory: Some(MIN_MEMORY), pids_limit: Some(-1), cpuset_cpus: Some("0".into()), ..opts() },
            RunOptions { sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(), ..opts() },
            RunOptions { hostname: Some("h".repeat(64)), security_opt: vec!["no-new-privileges".into()], ..opts() },
        ] {
            validate(&fine).unwrap();
        }
    }

    #[test]
    fn cpu_lists() {
        for ok in ["0", "0-3", "0,2-3,7"] {
            assert!(valid_cpu_list(ok), "{ok}");
        }
        for bad in ["", "a", "3-1", "1,", "-1", "1-2-3"] {
            assert!(!valid_cpu_list(bad), "{bad}");
        }
    }

    #[test]
    fn capability_math() {
        let set = capabilities(&["SYS_ADMIN".into()], &["NET_RAW".into()]).unwrap();
        assert!(set.contains(&parse_cap("SYS_ADMIN").unwrap()) && !set.contains(&parse_cap("NET_RAW").unwrap()));
        assert_eq!(capabilities(&[], &["ALL".into()]).unwrap().len(), 0);
        assert!(capabilities(&["BOGUS".into()], &[]).is_err());
    }
}
