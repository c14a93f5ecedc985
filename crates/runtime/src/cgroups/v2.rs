//! cgroup v2: one tree, controllers enabled top-down through `cgroup.subtree_control`.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::devices;
use super::{mkdir_levels, write_file};
use crate::error::{Result, RuntimeError};

/// cgroup v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), as runc converts.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// blkio weight (10..1000) to `io.weight` (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

/// The (file, value) writes that realise `res` on a v2 host, in order.
pub fn writes(res: &LinuxResources) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |f: &str, v: String| out.push((f.to_string(), v));
    let max = |v: i64| {
        if v < 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    if let Some(mem) = res.memory() {
        if let Some(limit) = mem.limit() {
            push("memory.max", max(limit));
        }
        if let Some(swap) = mem.swap() {
            // OCI swap is memory+swap; v2 limits swap alone.
            let v = match (swap, mem.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l >= 0 => {
                    if s < l {
                        return Err(RuntimeError::Cgroup(format!(
                            "memory+swap limit {s} is below the memory limit {l}"
                        )));
                    }
                    (s - l).to_string()
                }
                (0, _) => "0".to_string(),
                _ => return Err(RuntimeError::Cgroup("a swap limit needs a memory limit on cgroup v2".into())),
            };
            push("memory.swap.max", v);
        }
        if let Some(r) = mem.reservation() {
            push("memory.low", max(r));
        }
        if mem.disable_oom_killer() == Some(true) {
            return Err(RuntimeError::Cgroup("disableOOMKiller is not available on cgroup v2".into()));
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(s) = cpu.shares().filter(|s| *s > 0) {
            push("cpu.weight", shares_to_weight(s).to_string());
        }
        if cpu.quota().is_some() || cpu.period().is_some() {
            let quota = cpu.quota().filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
            push("cpu.max", format!("{quota} {}", cpu.period().unwrap_or(100_000)));
        }
        if let Some(c) = cpu.cpus() {
            push("cpuset.cpus", c.clone());
        }
        if let Some(m) = cpu.mems() {
            push("cpuset.mems", m.clone());
        }
    }
    if let Some(pids) = res.pids() {
        push("pids.max", if pids.limit() > 0 { pids.limit().to_string() } else { "max".into() });
    }
    if let Some(bio) = res.block_io() {
        if let Some(weight) = bio.weight().filter(|w| *w > 0) {
            push("io.weight", format!("default {}", blkio_to_io_weight(weight)));
        }
        for d in bio.weight_device().iter().flatten() {
            if let Some(weight) = d.weight() {
                push("io.weight", format!("{}:{} {}", d.major(), d.minor(), blkio_to_io_weight(weight)));
            }
        }
        let throttles = [
            ("rbps", bio.throttle_read_bps_device()),
            ("wbps", bio.throttle_write_bps_device()),
            ("riops", bio.throttle_read_iops_device()),
            ("wiops", bio.throttle_write_iops_device()),
        ];
        for (key, devs) in throttles {
            for d in devs.iter().flatten() {
                push("io.max", format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()));
            }
        }
    }
    for h in res.hugepage_limits().iter().flatten() {
        push(&format!("hugetlb.{}.max", h.page_size()), h.limit().to_string());
    }
    // net_cls and net_prio have no v2 controller (v2 leaves this to eBPF on sockets): refuse, never skip.
    if let Some(net) = res.network() {
        if net.class_id().is_some() {
            return Err(RuntimeError::ControllerMissing {
                controller: "net_cls",
                wanted: "linux.resources.network.classID",
            });
        }
        if net.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(RuntimeError::ControllerMissing {
                controller: "net_prio",
                wanted: "linux.resources.network.priorities",
            });
        }
    }
    if let Some(unified) = res.unified() {
        let sorted: BTreeMap<_, _> = unified.iter().collect();
        for (k, v) in sorted {
            if k.contains('/') || k.starts_with('.') {
                return Err(RuntimeError::Cgroup(format!("unified key {k:?} is not a control file name")));
            }
            push(k, v.clone());
        }
    }
    Ok(out)
}

/// Controllers a container may use, enabled on every ancestor.
const CONTROLLERS: [&str; 6] = ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"];

pub fn create(root: &Path, rel: &Path) -> Result<Vec<PathBuf>> {
    // Enable controllers from the root down to the container's parent.
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    let made = mkdir_levels(root, rel)?;
    for comp in &comps {
        enable_controllers(&cur)?;
        cur.push(comp);
    }
    Ok(made)
}

fn enable_controllers(dir: &Path) -> Result<()> {
    let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = available
        .split_whitespace()
        .filter(|c| CONTROLLERS.contains(c) && !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    write_file(&dir.join("cgroup.subtree_control"), &want.join(" "))
}

pub fn apply(root: &Path, rel: &Path, res: &LinuxResources) -> Result<()> {
    let dir = root.join(rel);
    for (file, value) in writes(res)? {
        write_file(&dir.join(&file), &value)?;
    }
    if let Some(rules) = res.devices() {
        let program = devices::bpf_program(&devices::effective_rules(rules));
        let cgroup = fs::File::open(&dir).map_err(RuntimeError::io("open", &dir))?;
        devices::attach(cgroup.as_fd(), &program)?;
    }
    Ok(())
}

pub fn freeze(dir: &Path, frozen: bool) -> Result<()> {
    write_file(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_frozen(dir) != frozen {
        if Instant::now() > deadline {
            return Err(RuntimeError::Cgroup(format!("{} did not reach frozen={frozen}", dir.display())));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

pub fn is_frozen(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.events")).map(|s| s.lines().any(|l| l.trim() == "frozen 1")).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

    fn fake_root() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n").unwrap();
        fs::write(tmp.path().join("cgroup.subtree_control"), "").unwrap();
        tmp
    }

    #[test]
    fn converts_weights() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn translates_memory_and_swap() {
        let res = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(100).swap(300).build().unwrap())
            .cpu(LinuxCpuBuilder::default().quota(-1).period(50_000u64).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let got = writes(&res).unwrap();
        let want: Vec<(String, String)> =
            [("memory.max", "100"), ("memory.swap.max", "200"), ("cpu.max", "max 50000"), ("pids.max", "10")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(got, want);
        let bad = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(100).swap(50).build().unwrap())
            .build()
            .unwrap();
        assert!(writes(&bad).is_err());
        let unlimited = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(-1).swap(-1).build().unwrap())
            .build()
            .unwrap();
        assert_eq!(writes(&unlimited).unwrap()[1].1, "max");
    }

    #[test]
    fn creates_and_applies_on_fake_tree() {
        let root = fake_root();
        let rel = Path::new("wharf/c1");
        let made = create(root.path(), rel).unwrap();
        assert_eq!(made.len(), 2);
        let enabled = fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(enabled, "+cpuset +cpu +io +memory +hugetlb +pids");
        let res = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(1 << 20).build().unwrap())
            .cpu(LinuxCpuBuilder::default().shares(1024u64).quota(20_000).period(100_000u64).build().unwrap())
            .build()
            .unwrap();
        apply(root.path(), rel, &res).unwrap();
        let dir = root.path().join(rel);
        assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap(), "1048576");
        assert_eq!(fs::read_to_string(dir.join("cpu.weight")).unwrap(), "39");
        assert_eq!(fs::read_to_string(dir.join("cpu.max")).unwrap(), "20000 100000");
    }

    #[test]
    fn freeze_reads_events() {
        let root = fake_root();
        fs::write(root.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert!(is_frozen(root.path()));
        freeze(root.path(), true).unwrap();
        assert_eq!(fs::read_to_string(root.path().join("cgroup.freeze")).unwrap(), "1");
    }
}
