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
use crate::convert::{self, Cx};
use crate::error::{ComposeError, Result};
use crate::graph;
use crate::yaml::{Node, Value};

mod containers;
mod files;
mod resources;
#[cfg(test)]
mod tests;
pub mod wait;

pub use containers::{one_off_body, OneOff};
pub use resources::build_spec;

/// When images are built (`--build`, `--no-build`, or only when missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuildPolicy {
    #[default]
    Missing,
    Always,
    Never,
}

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    /// Only these services (the named ones), not what they depend on.
    pub only: Option<Vec<String>>,
    /// `--scale svc=n`, over `scale` and `deploy.replicas`.
    pub scale: Vec<(String, u32)>,
    pub build: BuildPolicy,
    /// `create` makes the containers without starting them.
    pub no_start: bool,
    /// Seconds a container being replaced or removed has to stop (`-t`).
    pub timeout: Option<i64>,
}

/// Progress: (kind, name, status) — `Container shop-web-1 Started`. Called
/// from the threads that bring up one level's services in parallel.
pub type Progress<'a> = &'a (dyn Fn(&str, &str, &str) + Sync);

pub struct Plan<'a> {
    pub project: &'a str,
    pub model: &'a Node,
    pub cx: Cx<'a>,
    /// Every service of the files, also those off (profiles, not named):
    /// a container of one of them is not an orphan.
    pub known: &'a [String],
}

impl Plan<'_> {
    /// The model's services, in file order.
    pub fn services(&self) -> Vec<(&str, &Node)> {
        self.model.get("services").map(|s| s.entries().collect()).unwrap_or_default()
    }

    pub fn service(&self, name: &str) -> Option<&Node> {
        self.model.get("services").and_then(|s| s.get(name))
    }

    /// A container whose service is in no file of the project.
    pub fn is_orphan(&self, c: &Summary) -> bool {
        c.service().is_none_or(|s| self.service(s).is_none() && !self.known.iter().any(|k| k == s))
    }

    /// Refuses a service name that is not in the model.
    pub fn check(&self, names: &[String]) -> Result<()> {
        match names.iter().find(|n| self.service(n).is_none()) {
            Some(n) => Err(ComposeError::Project(format!("no such service: {n}"))),
            None => Ok(()),
        }
    }

    /// The engine name of network `key`.
    pub fn network_name(&self, key: &str) -> String {
        let decl = self.model.get("networks").and_then(|n| n.get(key));
        match decl.and_then(|d| d.get("name")).and_then(Node::as_str) {
            Some(n) => n.to_string(),
            None => format!("{}_{key}", self.project),
        }
    }

    /// The engine name of top-level volume `key`.
    pub fn volume_name(&self, key: &str) -> String {
        self.cx.volumes.iter().find(|(k, _)| k == key).map(|(_, n)| n.clone()).unwrap_or_default()
    }

    /// The image service `name` runs.
    pub fn image(&self, name: &str, svc: &Node) -> Result<String> {
        convert::image_name(self.project, name, svc)
            .ok_or_else(|| ComposeError::Project(format!("service {name:?} has neither an image nor a build context")))
    }
}

/// The dependencies of `svc` marked `restart: true`.
pub(crate) fn restarts_after(svc: &Node) -> Vec<String> {
    svc.get("depends_on")
        .into_iter()
        .flat_map(Node::entries)
        .filter(|(_, d)| is_true(d.get("restart")))
        .map(|(k, _)| k.to_string())
        .collect()
}

pub(crate) fn is_true(n: Option<&Node>) -> bool {
    matches!(n.map(|n| &n.value), Some(Value::Bool(true)))
}

/// Networks a service is on (keys of the model's networks), primary first.
pub(crate) fn service_networks(svc: &Node) -> Vec<String> {
    if svc.get("network_mode").is_some() {
        return Vec::new();
    }
    let nets: Vec<String> =
        svc.get("networks").map(|n| n.entries().map(|(k, _)| k.to_string()).collect()).unwrap_or_default();
    if nets.is_empty() {
        vec!["default".into()]
    } else {
        nets
    }
}

/// The replicas of a service: `--scale`, `scale`, `deploy.replicas`, 1.
pub(crate) fn replicas(opts: &UpOptions, name: &str, svc: &Node) -> u32 {
    if let Some((_, n)) = opts.scale.iter().find(|(s, _)| s == name) {
        return *n;
    }
    let n = |x: Option<&Node>| match x.map(|n| &n.value) {
        Some(Value::Int(i)) if *i >= 0 => Some(*i as u32),
        _ => None,
    };
    n(svc.get("scale")).or_else(|| n(svc.get("deploy").and_then(|d| d.get("replicas")))).unwrap_or(1)
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
        let restart = {
            let changed = changed.lock().unwrap_or_else(|e| e.into_inner());
            restarts_after(svc).iter().any(|d| changed.contains(d))
        };
        let now = containers::Current { existing: &existing, restart };
        if containers::service_up(plan, backend, opts, (name, svc), &now, progress)? {
            changed.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
        }
        Ok(())
    })?;
    Ok(())
}
