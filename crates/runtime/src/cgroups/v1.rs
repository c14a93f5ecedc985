//! cgroup v1: one directory per hierarchy, limits in controller-specific files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::devices::{self, DeviceRule};
use super::{mkdir_levels, write_file, V1Mount};
use crate::error::{Result, RuntimeError};

/// One control-file write: which controller's hierarchy, which file, what value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub subsystem: &'static str,
    pub file: String,
    pub value: String,
}

fn w(subsystem: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write { subsystem, file: file.into(), value: value.to_string() }
}

/// The writes that realise `res` on a v1 host, in the order they must happen.
pub fn writes(res: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(mem) = res.memory() {
        if let Some(limit) = mem.limit() {
            out.push(w("memory", "memory.limit_in_bytes", limit));
        }
        if let Some(swap) = mem.swap() {
            out.push(w("memory", "memory.memsw.limit_in_bytes", swap));
        }
        if let Some(r) = mem.reservation() {
            out.push(w("memory", "memory.soft_limit_in_bytes", r));
        }
        if let Some(s) = mem.swappiness() {
            out.push(w("memory", "memory.swappiness", s));
        }
        if mem.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(s) = cpu.shares() {
            out.push(w("cpu", "cpu.shares", s));
        }
        if let Some(p) = cpu.period() {
            out.push(w("cpu", "cpu.cfs_period_us", p));
        }
        if let Some(q) = cpu.quota() {
            out.push(w("cpu", "cpu.cfs_quota_us", q));
        }
        if let Some(p) = cpu.realtime_period() {
            out.push(w("cpu", "cpu.rt_period_us", p));
        }
        if let Some(r) = cpu.realtime_runtime() {
            out.push(w("cpu", "cpu.rt_runtime_us", r));
        }
        if let Some(c) = cpu.cpus() {
            out.push(w("cpuset", "cpuset.cpus", c));
        }
        if let Some(m) = cpu.mems() {
            out.push(w("cpuset", "cpuset.mems", m));
        }
    }
    if let Some(pids) = res.pids() {
        let limit = pids.limit();
        out.push(w("pids", "pids.max", if limit > 0 { limit.to_string() } else { "max".into() }));
    }
    if let Some(bio) = res.block_io() {
        if let Some(weight) = bio.weight().filter(|w| *w > 0) {
            out.push(w("blkio", "blkio.weight", weight));
        }
        if let Some(weight) = bio.leaf_weight().filter(|w| *w > 0) {
            out.push(w("blkio", "blkio.leaf_weight", weight));
        }
        for d in bio.weight_device().iter().flatten() {
            if let Some(weight) = d.weight() {
                out.push(w("blkio", "blkio.weight_device", format!("{}:{} {weight}", d.major(), d.minor())));
            }
        }
        let throttles = [
            ("blkio.throttle.read_bps_device", bio.throttle_read_bps_device()),
            ("blkio.throttle.write_bps_device", bio.throttle_write_bps_device()),
            ("blkio.throttle.read_iops_device", bio.throttle_read_iops_device()),
            ("blkio.throttle.write_iops_device", bio.throttle_write_iops_device()),
        ];
        for (file, devs) in throttles {
            for d in devs.iter().flatten() {
                out.push(w("blkio", file, format!("{}:{} {}", d.major(), d.minor(), d.rate())));
            }
        }
    }
    for h in res.hugepage_limits().iter().flatten() {
        out.push(w("hugetlb", format!("hugetlb.{}.limit_in_bytes", h.page_size()), h.limit()));
    }
    if let Some(net) = res.network() {
        if let Some(id) = net.class_id() {
            out.push(w("net_cls", "net_cls.classid", id));
        }
        for p in net.priorities().iter().flatten() {
            out.push(w("net_prio", "net_prio.ifpriomap", format!("{} {}", p.name(), p.priority())));
        }
    }
    if let Some(rules) = res.devices() {
        for rule in devices::effective_rules(rules) {
            let file = if rule.allow { "devices.allow" } else { "devices.deny" };
            out.push(w("devices", file, rule.v1_line()));
        }
    }
    out
}

/// Makes the directory in every hierarchy; new cpuset directories inherit their
/// parent's cpus and mems (they start empty, and attaching would fail).
pub fn create(mounts: &[V1Mount], rel: &Path) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for m in mounts {
        let is_cpuset = m.has("cpuset");
        let result = mkdir_levels(&m.mountpoint, rel).and_then(|dirs| {
            // Every level, not only the ones we made: a concurrent create may have
            // made a parent and not yet filled its cpus/mems.
            if is_cpuset {
                let mut cur = m.mountpoint.clone();
                for comp in rel.components() {
                    cur.push(comp);
                    inherit_cpuset(&cur)?;
                }
            }
            Ok(dirs)
        });
        match result {
            Ok(dirs) => made.extend(dirs),
            Err(e) => {
                for d in made.iter().rev() {
                    let _ = fs::remove_dir(d);
                }
                return Err(e);
            }
        }
    }
    Ok(made)
}

fn inherit_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let current = fs::read_to_string(dir.join(file)).unwrap_or_default();
        if current.trim().is_empty() {
            let value = fs::read_to_string(parent.join(file)).map_err(RuntimeError::io("read", parent.join(file)))?;
            write_file(&dir.join(file), value.trim())?;
        }
    }
    Ok(())
}

pub fn apply(mounts: &[V1Mount], rel: &Path, res: &LinuxResources) -> Result<()> {
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(RuntimeError::Cgroup("unified resources need a cgroup v2 host".into()));
    }
    let all = writes(res);
    let mut i = 0;
    while i < all.len() {
        let wr = &all[i];
        let Some(mount) = mounts.iter().find(|m| m.has(wr.subsystem)) else {
            // Fail closed: a limit or device policy that cannot be written is never skipped.
            // The one exception: an empty device list only appends the runtime's
            // own allows, which restrict nothing.
            if wr.subsystem == "devices" && res.devices().as_ref().is_none_or(|d| d.is_empty()) {
                i += 1;
                continue;
            }
            return Err(RuntimeError::ControllerMissing { controller: wr.subsystem, wanted: wanted(wr) });
        };
        let dir = mount.mountpoint.join(rel);
        let path = dir.join(&wr.file);
        if wr.file == "memory.memsw.limit_in_bytes" && !path.exists() {
            if wr.value != "-1" && wr.value != "0" {
                return Err(RuntimeError::Cgroup("swap limit requested but the kernel has no swap accounting".into()));
            }
            i += 1;
            continue;
        }
        let result = write_file(&path, &wr.value);
        // Raising the memory limit above the current memsw limit fails: write memsw first.
        if result.is_err() && wr.file == "memory.limit_in_bytes" {
            if let Some(next) = all.get(i + 1).filter(|n| n.file == "memory.memsw.limit_in_bytes") {
                write_file(&dir.join(&next.file), &next.value)?;
                write_file(&path, &wr.value)?;
                i += 2;
                continue;
            }
        }
        if result.is_err() && wr.file == "blkio.weight" && dir.join("blkio.bfq.weight").exists() {
            write_file(&dir.join("blkio.bfq.weight"), &wr.value)?;
            i += 1;
            continue;
        }
        if result.is_err() && wr.file.starts_with("blkio.weight") && !path.exists() {
            // CFQ is gone from the kernel and BFQ is not the scheduler (or not loaded).
            return Err(RuntimeError::Cgroup(format!(
                "blkio weight requested but this host's I/O scheduler offers none ({} and blkio.bfq.weight are absent; \
                 BFQ is not in use): cannot enforce linux.resources.blockIO",
                wr.file
            )));
        }
        result?;
        i += 1;
    }
    Ok(())
}

/// The spec field a write realises, for error messages.
fn wanted(wr: &Write) -> &'static str {
    match wr.subsystem {
        "devices" => "linux.resources.devices",
        "net_cls" => "linux.resources.network.classID",
        "net_prio" => "linux.resources.network.priorities",
        "memory" => "linux.resources.memory",
        "cpu" => "linux.resources.cpu",
        "cpuset" => "linux.resources.cpu.cpus/mems",
        "pids" => "linux.resources.pids",
        "blkio" => "linux.resources.blockIO",
        "hugetlb" => "linux.resources.hugepageLimits",
        _ => "linux.resources",
    }
}

fn freezer_dir(mounts: &[V1Mount], rel: &Path) -> Result<PathBuf> {
    mounts
        .iter()
        .find(|m| m.has("freezer"))
        .map(|m| m.mountpoint.join(rel))
        .ok_or_else(|| RuntimeError::Cgroup("freezer controller is not mounted".into()))
}

pub fn freeze(mounts: &[V1Mount], rel: &Path, frozen: bool) -> Result<()> {
    let dir = freezer_dir(mounts, rel)?;
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        write_file(&dir.join("freezer.state"), want)?;
        let state = fs::read_to_string(dir.join("freezer.state"))
            .map_err(RuntimeError::io("read", dir.join("freezer.state")))?;
        if state.trim() == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(RuntimeError::Cgroup(format!("{} did not reach {want}", dir.display())));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn is_frozen(mounts: &[V1Mount], rel: &Path) -> bool {
    freezer_dir(mounts, rel)
        .ok()
        .and_then(|d| fs::read_to_string(d.join("freezer.state")).ok())
        .is_some_and(|s| s.trim() == "FROZEN")
}

impl DeviceRule {
    /// `devices.allow`/`devices.deny` syntax: `c 1:3 rwm`, `a *:* rwm`.
    pub fn v1_line(&self) -> String {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        format!("{} {}:{} {}", self.kind, num(self.major), num(self.minor), self.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

    #[test]
    fn translates_resources() {
        let res = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(64 << 20).swap(128 << 20).build().unwrap())
            .cpu(LinuxCpuBuilder::default().shares(512u64).quota(50_000).period(100_000u64).cpus("0").build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
            .build()
            .unwrap();
        let got: Vec<(String, String)> = writes(&res).into_iter().map(|w| (w.file, w.value)).collect();
        let want = [
            ("memory.limit_in_bytes", "67108864"),
            ("memory.memsw.limit_in_bytes", "134217728"),
            ("cpu.shares", "512"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "50000"),
            ("cpuset.cpus", "0"),
            ("pids.max", "max"),
        ];
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn applies_on_fake_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let mut mounts = Vec::new();
        for sub in ["memory", "pids", "cpuset", "freezer"] {
            let mp = tmp.path().join(sub);
            fs::create_dir_all(&mp).unwrap();
            if sub == "cpuset" {
                fs::write(mp.join("cpuset.cpus"), "0-1\n").unwrap();
                fs::write(mp.join("cpuset.mems"), "0\n").unwrap();
            }
            mounts.push(V1Mount { subsystems: vec![sub.into()], mountpoint: mp });
        }
        let rel = Path::new("wharf/c1");
        let made = create(&mounts, rel).unwrap();
        assert_eq!(made.len(), 8);
        assert_eq!(fs::read_to_string(tmp.path().join("cpuset/wharf/c1/cpuset.cpus")).unwrap(), "0-1");
        let res = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(1 << 20).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(7).build().unwrap())
            .build()
            .unwrap();
        apply(&mounts, rel, &res).unwrap();
        assert_eq!(fs::read_to_string(tmp.path().join("memory/wharf/c1/memory.limit_in_bytes")).unwrap(), "1048576");
        assert_eq!(fs::read_to_string(tmp.path().join("pids/wharf/c1/pids.max")).unwrap(), "7");
    }
}
