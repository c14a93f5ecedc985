//! `up` (and `create`) on a [`Backend`], as Docker Compose v2 does them.
//!
//! First what must hold before anything is made (`resources::preflight`:
//! every service converts, networks are declared, externals exist, images
//! are there — built or pulled as `--build`/`pull_policy` say); then the
//! project's networks (`proj_default` and the declared ones) and volumes;
//! then the services level by level in dependency order, the services of
//! one level in parallel. Before a service its dependencies' conditions
//! are waited for (`wait.rs`); each replica (`scale`, `deploy.replicas`,
//! `--scale`) is kept when its `config-hash` label matches (started if it
//! is not running), recreated when it differs (or `force_recreate`),
//! created when missing (`containers.rs`); surplus replicas are removed;
//! containers of services no longer in the model are orphans (removed with
//! `remove_orphans`).

use std::sync::Mutex;

use crate::backend::{Backend, Summary};
use crate::error::{ComposeError, Result};
use crate::graph;
use crate::yaml::Node;

mod builds;
mod containers;
mod files;
mod plan;
mod resources;
#[cfg(test)]
mod tests;
pub mod wait;

pub use builds::{build_in_order, build_spec};
pub use containers::{one_off_body, OneOff};
pub use plan::{is_true, replicas, restarts_after, service_networks, BuildPolicy, Plan, Progress, UpOptions};

/// The services whose network namespace or volumes `svc` takes.
fn shares_with(svc: &Node) -> Vec<String> {
    let mut out: Vec<String> = svc
        .get("network_mode")
        .and_then(Node::as_str)
        .and_then(|m| m.strip_prefix("service:"))
        .map(str::to_string)
        .into_iter()
        .collect();
    for v in svc.get("volumes_from").map(Node::strings).unwrap_or_default() {
        if !v.starts_with("container:") {
            let v = v.strip_prefix("service:").unwrap_or(&v);
            out.push(v.split(':').next().unwrap_or(v).to_string());
        }
    }
    out
}

pub fn up(plan: &Plan, backend: &dyn Backend, opts: &UpOptions, progress: Progress) -> Result<()> {
    if let Some(only) = &opts.only {
        plan.check(only)?;
    }
    if let Some((s, _)) = opts.scale.iter().find(|(s, _)| plan.service(s).is_none()) {
        return Err(ComposeError::Project(format!("--scale: no such service: {s}")));
    }
    let acted = |n: &str| opts.only.as_ref().is_none_or(|o| o.iter().any(|x| x == n));
    let services: Vec<(&str, &Node)> = plan.services().into_iter().filter(|(n, _)| acted(n)).collect();
    resources::preflight(plan, backend, &services, opts, progress)?;
    resources::networks(plan, backend, &services, progress)?;
    resources::volumes(plan, backend, progress)?;
    let existing = backend.containers(plan.project)?;
    let orphans: Vec<&Summary> = existing
        .iter()
        .filter(|c| c.label("com.docker.compose.oneoff") != Some("True"))
        .filter(|c| plan.is_orphan(c))
        .collect();
    for o in orphans {
        if opts.remove_orphans {
            backend.stop(&o.id, opts.timeout)?;
            backend.remove(&o.id, false)?;
            progress("Container", &o.name, "Removed");
        } else {
            progress("Warning", &o.name, "Found orphan container (run with --remove-orphans to remove it)");
        }
    }
    // Services whose containers this `up` created or recreated: a dependant
    // with `depends_on.<it>.restart: true` is restarted after them.
    let changed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let levels: Vec<Vec<(&str, &Node)>> = graph::start_order(plan.model)?
        .into_iter()
        .map(|level| services.iter().filter(|(n, _)| level.iter().any(|l| l == n)).copied().collect())
        .collect();
    graph::in_levels(&levels, |&(name, svc)| {
        // With only some services (`--no-deps`), what they depend on is not waited for.
        let acted_deps = graph::dependencies(svc).iter().all(|d| acted(d));
        if acted_deps && !opts.no_start {
            wait::dependencies(plan, backend, name, svc)?;
        }
        let (restart, recreate) = {
            let changed = changed.lock().unwrap_or_else(|e| e.into_inner());
            let shared = shares_with(svc);
            (restarts_after(svc).iter().any(|d| changed.contains(d)), shared.iter().any(|d| changed.contains(d)))
        };
        let now = containers::Current { existing: &existing, restart, recreate };
        if containers::service_up(plan, backend, opts, (name, svc), &now, progress)? {
            changed.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
        }
        Ok(())
    })?;
    Ok(())
}
