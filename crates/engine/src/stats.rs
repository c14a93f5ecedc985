//! Resource usage of a running container: its cgroup's counters (through the
//! runtime) and the host's totals from `/proc` (procfs) that `docker stats`
//! divides by.

use std::time::SystemTime;

/// One sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub read: SystemTime,
    /// CPU time the container used, in nanoseconds.
    pub cpu_total_ns: u64,
    /// CPU time the whole host used, in nanoseconds (all CPUs).
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    /// The container's memory limit, or the host's memory if it has none.
    pub memory_limit: u64,
    pub pids: u64,
}

/// Host-wide CPU time in nanoseconds and the host's memory in bytes.
pub fn host() -> (u64, u64) {
    use procfs::{Current, CurrentSI};
    let ticks_per_sec = procfs::ticks_per_second().max(1);
    let cpu = procfs::KernelStats::current()
        .map(|k| {
            let t = &k.total;
            let ticks = t.user
                + t.nice
                + t.system
                + t.idle
                + t.iowait.unwrap_or(0)
                + t.irq.unwrap_or(0)
                + t.softirq.unwrap_or(0)
                + t.steal.unwrap_or(0);
            ticks * (1_000_000_000 / ticks_per_sec)
        })
        .unwrap_or(0);
    let mem = procfs::Meminfo::current().map(|m| m.mem_total).unwrap_or(0);
    (cpu, mem)
}

/// A sample of the container `id` as the runtime sees it (an empty one if it is not running).
pub fn sample(runtime: &dyn wharf_runtime::Runtime, id: &str) -> Sample {
    let s = runtime.stats(id).unwrap_or_default();
    let (system_cpu_ns, host_mem) = host();
    Sample {
        read: SystemTime::now(),
        cpu_total_ns: s.cpu_usage_ns,
        system_cpu_ns,
        online_cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        memory_usage: s.memory_usage,
        memory_limit: s.memory_limit.unwrap_or(host_mem),
        pids: s.pids,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_totals_are_read() {
        let (cpu, mem) = super::host();
        assert!(cpu > 0 && mem > 0);
    }
}
