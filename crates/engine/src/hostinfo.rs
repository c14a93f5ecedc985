//! What `GET /info` says about the host and the daemon, measured rather
//! than assumed: the cgroup features the kernel offers, forwarding and
//! bridge netfilter switches, the backing filesystem of the data root, the
//! OS release, the daemon's own descriptors and threads, and a stable
//! engine ID kept in the data root.

use std::path::Path;

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    /// Stable across restarts (`<root>/engine-id`), as dockerd's `ID`.
    pub id: String,
    pub cgroup_v2: bool,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub oom_kill_disable: bool,
    pub cpu_cfs: bool,
    pub cpu_shares: bool,
    pub cpuset: bool,
    pub pids_limit: bool,
    pub ipv4_forwarding: bool,
    pub bridge_nf_iptables: bool,
    pub bridge_nf_ip6tables: bool,
    /// Docker's names: `extfs`, `xfs`, `btrfs`, `tmpfs`, …
    pub backing_fs: String,
    /// `/etc/os-release`: PRETTY_NAME and VERSION_ID.
    pub os_name: String,
    pub os_version: String,
    pub fds: usize,
    pub threads: u64,
}

fn flag(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.trim() == "1")
}

/// The filesystem holding `path`, as Docker names it.
pub fn backing_fs(path: &Path) -> String {
    let Ok(st) = nix::sys::statfs::statfs(path) else { return "<unknown>".into() };
    // statfs(2) magic numbers.
    match st.filesystem_type().0 as u64 {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        _ => "<unknown>",
    }
    .to_string()
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let name = field("PRETTY_NAME");
    (if name.is_empty() { "Linux".into() } else { name }, field("VERSION_ID"))
}

/// The engine's ID, made once (random) and kept in `root`.
fn engine_id(root: &Path) -> Result<String> {
    let path = root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    let hex = wharf_common::ids::new_id();
    // Docker's look: twelve groups of four, upper case.
    let id =
        hex.as_bytes()[..48].chunks(4).map(|c| String::from_utf8_lossy(c).to_uppercase()).collect::<Vec<_>>().join(":");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &id).map_err(EngineError::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(EngineError::io("rename", &path))?;
    Ok(id)
}

/// Measures the host (reads /proc, /sys and the data root: call it off the async threads).
pub fn gather(root: &Path) -> Result<HostInfo> {
    let cg = Path::new("/sys/fs/cgroup");
    let v2 = cg.join("cgroup.controllers").exists();
    let v2_controllers = std::fs::read_to_string(cg.join("cgroup.controllers")).unwrap_or_default();
    let has = |v1_file: &str, v2_name: &str| match v2 {
        true => v2_controllers.split_whitespace().any(|c| c == v2_name),
        false => cg.join(v1_file).exists(),
    };
    let me = procfs::process::Process::myself().ok();
    let (os_name, os_version) = os_release();
    Ok(HostInfo {
        id: engine_id(root)?,
        cgroup_v2: v2,
        memory_limit: has("memory/memory.limit_in_bytes", "memory"),
        swap_limit: crate::resources::swap_limit_supported(),
        oom_kill_disable: !v2 && cg.join("memory/memory.oom_control").exists(),
        cpu_cfs: has("cpu/cpu.cfs_quota_us", "cpu"),
        cpu_shares: has("cpu/cpu.shares", "cpu"),
        cpuset: has("cpuset/cpuset.cpus", "cpuset"),
        pids_limit: has("pids/pids.max", "pids"),
        ipv4_forwarding: flag("/proc/sys/net/ipv4/ip_forward"),
        bridge_nf_iptables: flag("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        bridge_nf_ip6tables: flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
        backing_fs: backing_fs(root),
        os_name,
        os_version,
        fds: me.as_ref().and_then(|p| p.fd_count().ok()).unwrap_or(0),
        threads: me.and_then(|p| p.stat().ok()).map(|s| s.num_threads as u64).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_kept_and_the_host_measured() {
        let dir = tempfile::tempdir().unwrap();
        let a = gather(dir.path()).unwrap();
        let b = gather(dir.path()).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.split(':').count(), 12);
        assert!(a.fds > 0 && a.threads > 0);
        assert_ne!(backing_fs(Path::new("/proc")), "");
        assert!(!a.os_name.is_empty());
    }
}
