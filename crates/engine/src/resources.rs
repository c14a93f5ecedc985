//! A container's cgroup limits (`linux.resources` without the device
//! policy) from its options: written into the spec at start and applied
//! live by `update`, so both always mean the same.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::options::RunOptions;

/// Docker's CFS period when a limit is given in CPUs (`--cpus`).
const CFS_PERIOD: u64 = 100_000;

pub fn of(opts: &RunOptions) -> LinuxResources {
    let mut res = LinuxResources::default();
    let mut mem = LinuxMemory::default();
    if let Some(m) = opts.memory {
        mem.set_limit(Some(m));
    }
    if let Some(s) = opts.memory_swap.filter(|s| *s != 0) {
        mem.set_swap(Some(s));
    }
    if let Some(r) = opts.memory_reservation.filter(|r| *r > 0) {
        mem.set_reservation(Some(r));
    }
    if let Some(s) = opts.memory_swappiness.filter(|s| *s >= 0) {
        mem.set_swappiness(Some(s as u64));
    }
    if opts.oom_kill_disable {
        mem.set_disable_oom_killer(Some(true));
    }
    if mem != LinuxMemory::default() {
        res.set_memory(Some(mem));
    }
    let mut cpu = LinuxCpu::default();
    if let Some(cpus) = opts.cpus {
        cpu.set_period(Some(CFS_PERIOD));
        cpu.set_quota(Some((cpus * CFS_PERIOD as f64) as i64));
    }
    if let Some(p) = opts.cpu_period.filter(|p| *p != 0) {
        cpu.set_period(Some(p as u64));
    }
    if let Some(q) = opts.cpu_quota.filter(|q| *q != 0) {
        cpu.set_quota(Some(q));
    }
    if opts.cpuset_cpus.is_some() || opts.cpuset_mems.is_some() {
        cpu.set_cpus(opts.cpuset_cpus.clone());
        cpu.set_mems(opts.cpuset_mems.clone());
    }
    if let Some(shares) = opts.cpu_shares.filter(|s| *s > 0) {
        cpu.set_shares(Some(shares as u64));
    }
    if cpu != LinuxCpu::default() {
        res.set_cpu(Some(cpu));
    }
    if let Some(p) = opts.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        res.set_pids(Some(pids));
    }
    if let Some(w) = opts.blkio_weight.filter(|w| *w != 0) {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    res
}

/// Whether the host's memory controller limits swap (v1 `memsw` files, v2
/// `memory.swap.max` below the root): Docker's `SwapLimit`.
pub fn swap_limit_supported() -> bool {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("memory/memory.memsw.limit_in_bytes").exists() {
        return true;
    }
    std::fs::read_dir(root).into_iter().flatten().flatten().any(|e| e.path().join("memory.swap.max").exists())
}
