//! `up` and `down` on a [`Backend`], as Docker Compose v2 does them.
//!
//! `up`: the project's networks (`proj_default` and the declared ones;
//! external ones must exist) and volumes, then the services level by level
//! in dependency order: before a service, its dependencies' conditions are
//! waited for (`service_started`, `service_healthy`,
//! `service_completed_successfully`); each replica (`scale`,
//! `deploy.replicas`) is kept when its `config-hash` label matches (started
//! if it is not running), recreated when it differs (or `force_recreate`),
//! created when missing; surplus replicas are removed, and containers of
//! services no longer in the model are orphans (removed with
//! `remove_orphans`). `down`: the project's containers in reverse
//! dependency order, its networks, and with `volumes` its named volumes.

use std::time::Duration;

use serde_json::{json, Value as J};

use crate::backend::{Backend, Summary};
use crate::convert::{self, Cx};
use crate::error::{ComposeError, Result};
use crate::graph;
use crate::yaml::{Node, Value};

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
}

/// Progress: (kind, name, status) — `Container shop-web-1 Started`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, &str, &str);

pub struct Plan<'a> {
    pub project: &'a str,
    pub model: &'a Node,
    pub cx: Cx<'a>,
}

fn entries(n: Option<&Node>) -> Vec<(String, Node)> {
    match n.map(|n| &n.value) {
        Some(Value::Map(e)) => e.iter().map(|(k, v)| (k.name.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

fn is_true(n: Option<&Node>) -> bool {
    matches!(n.map(|n| &n.value), Some(Value::Bool(true)))
}

/// Networks a service is on (keys of the model's networks), primary first.
fn service_networks(svc: &Node) -> Vec<String> {
    if svc.get("network_mode").is_some() {
        return Vec::new();
    }
    let nets: Vec<String> = entries(svc.get("networks")).into_iter().map(|(k, _)| k).collect();
    if nets.is_empty() {
        vec!["default".into()]
    } else {
        nets
    }
}

/// The engine name of network `key`.
fn network_name(project: &str, model: &Node, key: &str) -> String {
    let decl = model.get("networks").and_then(|n| n.get(key));
    match decl.and_then(|d| d.get("name")).and_then(Node::as_str) {
        Some(n) => n.to_string(),
        None => format!("{project}_{key}"),
    }
}

fn replicas(svc: &Node) -> u32 {
    let n = |x: Option<&Node>| match x.map(|n| &n.value) {
        Some(Value::Int(i)) if *i >= 0 => Some(*i as u32),
        _ => None,
    };
    n(svc.get("scale")).or_else(|| n(svc.get("deploy").and_then(|d| d.get("replicas")))).unwrap_or(1)
}

/// What must hold before anything is made: every service converts, every
/// network it uses is declared, external networks and volumes exist, and
/// every image is there (pulled if missing).
/// The keys of top-level networks and volumes that `up` honours.
const NETWORK_KEYS: [&str; 9] =
    ["name", "external", "driver", "driver_opts", "internal", "attachable", "enable_ipv6", "ipam", "labels"];
const VOLUME_KEYS: [&str; 5] = ["name", "external", "driver", "driver_opts", "labels"];

fn preflight(plan: &Plan, backend: &dyn Backend, services: &[(String, Node)], progress: Progress) -> Result<()> {
    // Nothing declared is left unread: a key `up` would not apply is refused.
    for (key, decl) in entries(plan.model.get("networks")) {
        let path = format!("networks.{key}");
        convert::only_keys(&decl, &path, &NETWORK_KEYS)?;
        if let Some(ipam) = decl.get("ipam") {
            convert::only_keys(ipam, &format!("{path}.ipam"), &["driver", "config"])?;
            if let Some(Value::Seq(configs)) = ipam.get("config").map(|c| &c.value) {
                for (i, c) in configs.iter().enumerate() {
                    convert::only_keys(c, &format!("{path}.ipam.config[{i}]"), &["subnet", "gateway", "ip_range"])?;
                }
            }
        }
    }
    for (key, decl) in entries(plan.model.get("volumes")) {
        convert::only_keys(&decl, &format!("volumes.{key}"), &VOLUME_KEYS)?;
    }
    for (name, svc) in services {
        let body = convert::create_body(&plan.cx, name, svc, 1)?;
        for key in service_networks(svc) {
            let decl = plan.model.get("networks").and_then(|n| n.get(&key));
            if key != "default" && decl.is_none() {
                return Err(ComposeError::Project(format!("service {name:?} refers to undefined network {key}")));
            }
            let net = network_name(plan.project, plan.model, &key);
            if is_true(decl.and_then(|d| d.get("external"))) && !backend.network_exists(&net)? {
                return Err(ComposeError::Project(format!(
                    "network {net} declared as external, but could not be found"
                )));
            }
        }
        let image = body["Image"].as_str().map(str::to_string).ok_or_else(|| {
            ComposeError::Project(format!("service {name:?} has neither an image nor a build context"))
        })?;
        if !backend.image_exists(&image)? {
            progress("Image", &image, "Pulling");
            backend.pull(&image)?;
            progress("Image", &image, "Pulled");
        }
    }
    for (key, decl) in entries(plan.model.get("volumes")) {
        let name = plan.cx.volumes.iter().find(|(k, _)| *k == key).map(|(_, n)| n.clone()).unwrap_or_default();
        if is_true(decl.get("external")) && !backend.volume_exists(&name)? {
            return Err(ComposeError::Project(format!("external volume {name:?} not found")));
        }
    }
    Ok(())
}

pub fn up(plan: &Plan, backend: &dyn Backend, opts: &UpOptions, progress: Progress) -> Result<()> {
    let services = entries(plan.model.get("services"));
    preflight(plan, backend, &services, progress)?;
    // Networks the services use.
    let mut used: Vec<String> = Vec::new();
    for (_, svc) in &services {
        for n in service_networks(svc) {
            if !used.contains(&n) {
                used.push(n);
            }
        }
    }
    for key in &used {
        let decl = plan.model.get("networks").and_then(|n| n.get(key));
        if key != "default" && decl.is_none() {
            return Err(ComposeError::Project(format!("a service uses undefined network {key:?}")));
        }
        let name = network_name(plan.project, plan.model, key);
        if backend.network_exists(&name)? {
            continue;
        }
        if is_true(decl.and_then(|d| d.get("external"))) {
            return Err(ComposeError::Project(format!("network {name} declared as external, but could not be found")));
        }
        let mut labels = serde_json::Map::new();
        for (k, v) in entries(decl.and_then(|d| d.get("labels"))) {
            labels.insert(k, json!(convert::text(&v).unwrap_or_default()));
        }
        labels.insert("com.docker.compose.project".into(), json!(plan.project));
        labels.insert("com.docker.compose.network".into(), json!(key));
        let opt = |k: &str| decl.and_then(|d| d.get(k));
        let mut body = json!({"Name": name, "CheckDuplicate": true, "Labels": labels,
            "Driver": opt("driver").and_then(Node::as_str).unwrap_or("bridge"),
            "Internal": is_true(opt("internal")), "Attachable": is_true(opt("attachable")),
            "EnableIPv6": is_true(opt("enable_ipv6"))});
        let driver_opts: serde_json::Map<String, J> = entries(opt("driver_opts"))
            .into_iter()
            .map(|(k, v)| (k, json!(convert::text(&v).unwrap_or_default())))
            .collect();
        if !driver_opts.is_empty() {
            body["Options"] = J::Object(driver_opts);
        }
        if let Some(ipam) = opt("ipam") {
            let configs: Vec<J> = match ipam.get("config").map(|c| &c.value) {
                Some(Value::Seq(items)) => items
                    .iter()
                    .map(|c| {
                        let f = |k: &str| c.get(k).and_then(convert::text);
                        json!({"Subnet": f("subnet"), "Gateway": f("gateway"), "IPRange": f("ip_range")})
                    })
                    .collect(),
                _ => Vec::new(),
            };
            body["IPAM"] =
                json!({"Driver": ipam.get("driver").and_then(Node::as_str).unwrap_or("default"), "Config": configs});
        }
        backend.create_network(&body)?;
        progress("Network", &name, "Created");
    }
    for (key, decl) in entries(plan.model.get("volumes")) {
        let name = plan.cx.volumes.iter().find(|(k, _)| *k == key).map(|(_, n)| n.clone()).unwrap_or_default();
        if backend.volume_exists(&name)? {
            continue;
        }
        if is_true(decl.get("external")) {
            return Err(ComposeError::Project(format!("external volume {name:?} not found")));
        }
        let mut labels = serde_json::Map::new();
        for (k, v) in entries(decl.get("labels")) {
            labels.insert(k, json!(convert::text(&v).unwrap_or_default()));
        }
        labels.insert("com.docker.compose.project".into(), json!(plan.project));
        labels.insert("com.docker.compose.volume".into(), json!(key));
        let driver_opts: serde_json::Map<String, J> = entries(decl.get("driver_opts"))
            .into_iter()
            .map(|(k, v)| (k, json!(convert::text(&v).unwrap_or_default())))
            .collect();
        let body = json!({"Name": name, "Driver": decl.get("driver").and_then(Node::as_str).unwrap_or("local"),
            "DriverOpts": driver_opts, "Labels": labels});
        backend.create_volume(&body)?;
        progress("Volume", &name, "Created");
    }
    let existing = backend.containers(plan.project)?;
    let orphans: Vec<&Summary> = existing
        .iter()
        .filter(|c| c.label("com.docker.compose.oneoff") != Some("True"))
        .filter(|c| !services.iter().any(|(n, _)| Some(n.as_str()) == c.service()))
        .collect();
    for o in orphans {
        if opts.remove_orphans {
            backend.stop(&o.id, None)?;
            backend.remove(&o.id, false)?;
            progress("Container", &o.name, "Removed");
        } else {
            progress("Warning", &o.name, "Found orphan container (run with --remove-orphans to remove it)");
        }
    }
    for level in graph::start_order(plan.model)? {
        for name in level {
            let Some((_, svc)) = services.iter().find(|(n, _)| *n == name) else { continue };
            wait_for_dependencies(plan, backend, &name, svc)?;
            service_up(plan, backend, opts, &name, svc, &existing, progress)?;
        }
    }
    Ok(())
}

fn wait_for_dependencies(plan: &Plan, backend: &dyn Backend, name: &str, svc: &Node) -> Result<()> {
    for (dep, d) in entries(svc.get("depends_on")) {
        let condition = d.get("condition").and_then(Node::as_str).unwrap_or("service_started").to_string();
        let required = !matches!(d.get("required").map(|r| &r.value), Some(Value::Bool(false)));
        let containers: Vec<Summary> =
            backend.containers(plan.project)?.into_iter().filter(|c| c.service() == Some(dep.as_str())).collect();
        if containers.is_empty() {
            if required {
                return Err(ComposeError::Project(format!(
                    "service {name:?} depends on {dep:?}, which has no container"
                )));
            }
            continue;
        }
        for c in containers {
            loop {
                let st = backend.state(&c.id)?;
                let done = match condition.as_str() {
                    "service_healthy" => match st.health.as_deref() {
                        Some("healthy") => true,
                        Some("unhealthy") => {
                            return Err(ComposeError::Project(format!(
                                "dependency failed to start: container {} is unhealthy",
                                c.name
                            )))
                        }
                        None => {
                            return Err(ComposeError::Project(format!(
                                "dependency {dep:?} of {name:?} has no healthcheck (condition service_healthy)"
                            )))
                        }
                        _ if !st.running => {
                            return Err(ComposeError::Project(format!(
                                "dependency failed to start: container {} exited",
                                c.name
                            )))
                        }
                        _ => false,
                    },
                    "service_completed_successfully" => match st.exit_code {
                        Some(0) if !st.running => true,
                        Some(code) if !st.running => {
                            return Err(ComposeError::Project(format!(
                                "service {dep:?} didn't complete successfully: exit {code}"
                            )))
                        }
                        _ => false,
                    },
                    _ => true,
                };
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(())
}

fn service_up(
    plan: &Plan,
    backend: &dyn Backend,
    opts: &UpOptions,
    name: &str,
    svc: &Node,
    existing: &[Summary],
    progress: Progress,
) -> Result<()> {
    let hash = convert::config_hash(svc);
    let want = replicas(svc);
    let mine: Vec<&Summary> = existing.iter().filter(|c| c.service() == Some(name)).collect();
    for c in mine.iter().filter(|c| c.number() > want || c.number() == 0) {
        backend.stop(&c.id, None)?;
        backend.remove(&c.id, false)?;
        progress("Container", &c.name, "Removed");
    }
    for number in 1..=want {
        let current = mine.iter().find(|c| c.number() == number);
        let id = match current {
            Some(c)
                if opts.no_recreate
                    || (!opts.force_recreate && c.label("com.docker.compose.config-hash") == Some(hash.as_str())) =>
            {
                if c.state == "running" {
                    progress("Container", &c.name, "Running");
                    continue;
                }
                c.id.clone()
            }
            Some(c) => {
                progress("Container", &c.name, "Recreate");
                backend.stop(&c.id, None)?;
                backend.remove(&c.id, false)?;
                create(plan, backend, name, svc, number, progress)?
            }
            None => create(plan, backend, name, svc, number, progress)?,
        };
        let cname = convert::container_name(plan.project, name, svc, number);
        progress("Container", &cname, "Starting");
        backend.start(&id)?;
        progress("Container", &cname, "Started");
    }
    Ok(())
}

fn create(
    plan: &Plan,
    backend: &dyn Backend,
    name: &str,
    svc: &Node,
    number: u32,
    progress: Progress,
) -> Result<String> {
    // The image is there: preflight saw to it.
    let cname = convert::container_name(plan.project, name, svc, number);
    let mut body = convert::create_body(&plan.cx, name, svc, number)?;
    let nets = service_networks(svc);
    let aliases_of = |key: &str| -> Vec<String> {
        let mut a = vec![name.to_string()];
        if let Some(Value::Seq(items)) =
            svc.get("networks").and_then(|n| n.get(key)).and_then(|n| n.get("aliases")).map(|x| &x.value)
        {
            a.extend(items.iter().filter_map(Node::as_str).map(str::to_string));
        }
        a
    };
    match svc.get("network_mode").and_then(Node::as_str) {
        Some(mode) => {
            let mode = match mode.strip_prefix("service:") {
                Some(other) => {
                    let target =
                        backend.containers(plan.project)?.into_iter().find(|c| c.service() == Some(other)).ok_or_else(
                            || {
                                ComposeError::Project(format!(
                                    "service {name:?}: network_mode service:{other} has no container"
                                ))
                            },
                        )?;
                    format!("container:{}", target.id)
                }
                None => mode.to_string(),
            };
            body["HostConfig"]["NetworkMode"] = json!(mode);
        }
        None => {
            let primary = network_name(plan.project, plan.model, &nets[0]);
            body["HostConfig"]["NetworkMode"] = json!(primary);
            let mut ep = json!({"Aliases": aliases_of(&nets[0])});
            let cfg = svc.get("networks").and_then(|n| n.get(&nets[0]));
            let addr = |k: &str| cfg.and_then(|c| c.get(k)).and_then(Node::as_str).map(str::to_string);
            if addr("ipv4_address").is_some() || addr("ipv6_address").is_some() {
                ep["IPAMConfig"] = json!({"IPv4Address": addr("ipv4_address"), "IPv6Address": addr("ipv6_address")});
            }
            body["NetworkingConfig"] = json!({"EndpointsConfig": {primary: ep}});
        }
    }
    if let Some(Value::Seq(items)) = svc.get("volumes_from").map(|v| &v.value) {
        let mut from = Vec::new();
        for v in items.iter().filter_map(Node::as_str) {
            match v.strip_prefix("container:") {
                Some(c) => from.push(c.to_string()),
                None => {
                    let v = v.strip_prefix("service:").unwrap_or(v);
                    let (svc_name, mode) = v.split_once(':').map_or((v, None), |(s, m)| (s, Some(m)));
                    let c = convert::container_name(
                        plan.project,
                        svc_name,
                        plan.model.get("services").and_then(|s| s.get(svc_name)).unwrap_or(svc),
                        1,
                    );
                    from.push(mode.map_or(c.clone(), |m| format!("{c}:{m}")));
                }
            }
        }
        body["HostConfig"]["VolumesFrom"] = json!(from);
    }
    let id = backend.create(&cname, &body)?;
    // Other networks after create (below API 1.44 only one is set at create).
    for key in nets.iter().skip(1) {
        backend.connect(&network_name(plan.project, plan.model, key), &id, &aliases_of(key))?;
    }
    progress("Container", &cname, "Created");
    Ok(id)
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
}

/// Removes the project's containers (reverse dependency order), networks,
/// and with `volumes` its volumes (named, and the containers' anonymous ones).
pub fn down(plan: &Plan, backend: &dyn Backend, opts: &DownOptions, progress: Progress) -> Result<()> {
    let services = entries(plan.model.get("services"));
    let containers = backend.containers(plan.project)?;
    let mut order: Vec<String> = graph::stop_order(plan.model)?.into_iter().flatten().collect();
    // Orphans first (no model order for them), if asked.
    let orphans: Vec<&Summary> =
        containers.iter().filter(|c| !services.iter().any(|(n, _)| Some(n.as_str()) == c.service())).collect();
    if opts.remove_orphans {
        order.splice(0..0, orphans.iter().filter_map(|c| c.service().map(str::to_string)));
    } else {
        for o in &orphans {
            progress("Warning", &o.name, "Found orphan container (run with --remove-orphans to remove it)");
        }
    }
    for name in &order {
        for c in containers.iter().filter(|c| c.service() == Some(name.as_str())) {
            if c.state == "running" || c.state == "paused" {
                progress("Container", &c.name, "Stopping");
                backend.stop(&c.id, None)?;
            }
            backend.remove(&c.id, opts.volumes)?;
            progress("Container", &c.name, "Removed");
        }
    }
    let mut nets: Vec<String> = backend.networks(plan.project)?;
    nets.sort();
    for n in nets {
        backend.remove_network(&n)?;
        progress("Network", &n, "Removed");
    }
    if opts.volumes {
        for (key, decl) in entries(plan.model.get("volumes")) {
            if is_true(decl.get("external")) {
                continue;
            }
            let name = plan.cx.volumes.iter().find(|(k, _)| *k == key).map(|(_, n)| n.clone()).unwrap_or_default();
            if backend.volume_exists(&name)? {
                backend.remove_volume(&name)?;
                progress("Volume", &name, "Removed");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "up_tests.rs"]
mod tests;
