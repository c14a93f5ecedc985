//! `update` (Docker's `POST /containers/{id}/update`): new cgroup limits
//! and restart policy for a container, applied live through the runtime
//! when it runs and recorded for every later start. Docker's rules: a field
//! left unset (or zero) keeps its value; CPUs and a CFS period/quota exclude
//! each other; a restart policy cannot be given to an auto-removed container.

use crate::error::{EngineError, Result};
use crate::model::{RestartPolicy, Status};
use crate::options::RunOptions;
use crate::Engine;

/// What an update sets; `None` keeps the container's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub restart_policy: Option<RestartPolicy>,
}

fn invalid(reason: &str) -> EngineError {
    EngineError::Invalid { what: "update".into(), reason: reason.into() }
}

/// `opts` with `u` applied, checked as Docker checks an update.
pub fn apply(opts: &RunOptions, u: &Update) -> Result<RunOptions> {
    if u.cpus.is_some() && (u.cpu_period.is_some() || u.cpu_quota.is_some()) {
        return Err(invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
    }
    if u.cpus.is_some() && (opts.cpu_period.is_some_and(|p| p != 0) || opts.cpu_quota.is_some_and(|q| q != 0)) {
        return Err(invalid(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period or Quota has already been set",
        ));
    }
    if (u.cpu_period.is_some() || u.cpu_quota.is_some()) && opts.cpus.is_some() {
        return Err(invalid(
            "Conflicting options: CPU Period or Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    let swap = u.memory_swap.or(opts.memory_swap).filter(|s| *s > 0);
    if let (Some(m), None, Some(s)) = (u.memory, u.memory_swap, swap) {
        if m > s {
            return Err(invalid(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
    }
    let mut o = opts.clone();
    let set = |field: &mut Option<i64>, v: Option<i64>| {
        if v.is_some() {
            *field = v;
        }
    };
    set(&mut o.memory, u.memory);
    set(&mut o.memory_swap, u.memory_swap);
    set(&mut o.memory_reservation, u.memory_reservation);
    set(&mut o.cpu_shares, u.cpu_shares);
    set(&mut o.cpu_period, u.cpu_period);
    set(&mut o.cpu_quota, u.cpu_quota);
    set(&mut o.pids_limit, u.pids_limit);
    if u.cpus.is_some() {
        o.cpus = u.cpus;
    }
    if u.cpuset_cpus.is_some() {
        o.cpuset_cpus = u.cpuset_cpus.clone();
    }
    if u.cpuset_mems.is_some() {
        o.cpuset_mems = u.cpuset_mems.clone();
    }
    if u.blkio_weight.is_some() {
        o.blkio_weight = u.blkio_weight;
    }
    if let (Some(m), Some(s)) = (o.memory, o.memory_swap.filter(|s| *s > 0)) {
        if s < m {
            return Err(invalid("Minimum memoryswap limit should be larger than memory limit, see usage"));
        }
    }
    crate::spec::validate(&o)?;
    Ok(o)
}

impl Engine {
    /// Applies `u` to container `key`: live through its runtime when it is
    /// running or paused (nothing is recorded if that fails), then in its
    /// record. Docker's warnings (none from Wharf).
    pub fn update_container(&self, key: &str, u: &Update) -> Result<Vec<String>> {
        let c = self.get(key)?;
        if let Some(p) = &u.restart_policy {
            p.validate()?;
            if c.auto_remove && !p.is_none() {
                return Err(invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
        }
        let opts = apply(&c.opts, u)?;
        let res = crate::resources::of(&opts);
        if matches!(c.state.status, Status::Running | Status::Paused) && res != crate::resources::of(&c.opts) {
            self.runtime_for(&c.id).update(&c.id, &res)?;
        }
        let (c, ()) = self.update(&c.id, |rec| {
            rec.opts = opts.clone();
            if let Some(p) = &u.restart_policy {
                rec.restart_policy = p.clone();
            }
            Ok(())
        })?;
        self.emit(&c.event("update", &[]));
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_keep_unset_fields_and_refuse_conflicts() {
        let base = RunOptions { memory: Some(64 << 20), cpu_shares: Some(512), ..Default::default() };
        let o = apply(&base, &Update { pids_limit: Some(50), ..Default::default() }).unwrap();
        assert_eq!((o.memory, o.cpu_shares, o.pids_limit), (Some(64 << 20), Some(512), Some(50)));
        let both = Update { cpus: Some(1.0), cpu_quota: Some(50_000), ..Default::default() };
        assert!(apply(&base, &both).is_err());
        let with_cpus = RunOptions { cpus: Some(1.0), ..Default::default() };
        assert!(apply(&with_cpus, &Update { cpu_quota: Some(50_000), ..Default::default() }).is_err());
        let with_swap = RunOptions { memory: Some(64 << 20), memory_swap: Some(128 << 20), ..Default::default() };
        assert!(apply(&with_swap, &Update { memory: Some(256 << 20), ..Default::default() }).is_err());
        let both = Update { memory: Some(256 << 20), memory_swap: Some(512 << 20), ..Default::default() };
        assert_eq!(apply(&with_swap, &both).unwrap().memory, Some(256 << 20));
        assert!(apply(&base, &Update { memory: Some(1), ..Default::default() }).is_err(), "below Docker's minimum");
    }
}
