//! What `up` and the other verbs work from: the project's plan (its model
//! and what converting needs), the options of `up`, and what a service's
//! model says of its networks, replicas and restarts. A leaf of `up`.

use crate::backend::Summary;
use crate::convert::{self, Cx};
use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

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
pub fn restarts_after(svc: &Node) -> Vec<String> {
    svc.get("depends_on")
        .into_iter()
        .flat_map(Node::entries)
        .filter(|(_, d)| is_true(d.get("restart")))
        .map(|(k, _)| k.to_string())
        .collect()
}

pub fn is_true(n: Option<&Node>) -> bool {
    matches!(n.map(|n| &n.value), Some(Value::Bool(true)))
}

/// Networks a service is on (keys of the model's networks), primary first.
pub fn service_networks(svc: &Node) -> Vec<String> {
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
pub fn replicas(opts: &UpOptions, name: &str, svc: &Node) -> u32 {
    if let Some((_, n)) = opts.scale.iter().find(|(s, _)| s == name) {
        return *n;
    }
    let n = |x: Option<&Node>| match x.map(|n| &n.value) {
        Some(Value::Int(i)) if *i >= 0 => Some(*i as u32),
        _ => None,
    };
    n(svc.get("scale")).or_else(|| n(svc.get("deploy").and_then(|d| d.get("replicas")))).unwrap_or(1)
}
