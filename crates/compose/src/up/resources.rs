//! What `up` checks before it makes anything, the images it builds or
//! pulls, and the project's networks and volumes.

use serde_json::{json, Map, Value as J};

use super::builds::build_spec;
use super::plan::{is_true, service_networks, BuildPolicy, Plan, Progress, UpOptions};
use crate::backend::Backend;
use crate::convert;
use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

/// The keys of top-level networks and volumes that `up` honours.
const NETWORK_KEYS: [&str; 9] =
    ["name", "external", "driver", "driver_opts", "internal", "attachable", "enable_ipv6", "ipam", "labels"];
const VOLUME_KEYS: [&str; 5] = ["name", "external", "driver", "driver_opts", "labels"];
fn check_declarations(plan: &Plan) -> Result<()> {
    for (key, decl) in plan.model.get("networks").into_iter().flat_map(Node::entries) {
        let path = format!("networks.{key}");
        convert::only_keys(decl, &path, &NETWORK_KEYS)?;
        if let Some(ipam) = decl.get("ipam") {
            convert::only_keys(ipam, &format!("{path}.ipam"), &["driver", "config"])?;
            if let Some(Value::Seq(configs)) = ipam.get("config").map(|c| &c.value) {
                for (i, c) in configs.iter().enumerate() {
                    convert::only_keys(c, &format!("{path}.ipam.config[{i}]"), &["subnet", "gateway", "ip_range"])?;
                }
            }
        }
    }
    for (key, decl) in plan.model.get("volumes").into_iter().flat_map(Node::entries) {
        convert::only_keys(decl, &format!("volumes.{key}"), &VOLUME_KEYS)?;
    }
    Ok(())
}

/// What must hold before anything is made: every declaration is one `up`
/// applies, every service converts, every network it uses is declared,
/// external networks and volumes exist; then every image is there (built
/// or pulled as `--build` and `pull_policy` say).
pub(super) fn preflight(
    plan: &Plan,
    backend: &dyn Backend,
    services: &[(&str, &Node)],
    opts: &UpOptions,
    progress: Progress,
) -> Result<()> {
    check_declarations(plan)?;
    let mut builds = Vec::new();
    let mut pulls = Vec::new();
    for (name, svc) in services {
        convert::create_body(&plan.cx, name, svc, 1)?;
        super::files::of(plan, name, svc)?;
        for key in service_networks(svc) {
            let decl = plan.model.get("networks").and_then(|n| n.get(&key));
            if key != "default" && decl.is_none() {
                return Err(ComposeError::Project(format!("service {name:?} refers to undefined network {key}")));
            }
            let net = plan.network_name(&key);
            if is_true(decl.and_then(|d| d.get("external"))) && !backend.network_exists(&net)? {
                return Err(ComposeError::Project(format!(
                    "network {net} declared as external, but could not be found"
                )));
            }
        }
        let image = plan.image(name, svc)?;
        let policy = svc.get("pull_policy").and_then(Node::as_str).unwrap_or("missing");
        let build = build_spec(plan, name, svc)?;
        let missing = || backend.image_exists(&image).map(|e| !e);
        match (build, policy) {
            (Some(b), _) if opts.build == BuildPolicy::Always || policy == "build" => builds.push(b),
            (Some(b), _) if opts.build != BuildPolicy::Never && missing()? => builds.push(b),
            (Some(_), _) if missing()? => {
                return Err(ComposeError::Project(format!(
                    "service {name:?}: image {image} is not built and --no-build was given"
                )))
            }
            (Some(_), _) => {}
            (None, "always") => pulls.push(image),
            (None, "missing" | "if_not_present") if missing()? => pulls.push(image),
            (None, "never") if missing()? => {
                return Err(ComposeError::Project(format!(
                    "service {name:?}: image {image} is not present and pull_policy is never"
                )))
            }
            (None, "missing" | "if_not_present" | "never") => {}
            (None, "build") => {
                return Err(ComposeError::Project(format!(
                    "service {name:?}: pull_policy build without a build section"
                )))
            }
            (None, other) => {
                let at = svc.get("pull_policy").expect("set").clone();
                return Err(convert::unsupported(
                    &at,
                    &format!("services.{name}.pull_policy"),
                    &format!("{other:?} is not supported by wharf compose yet (always, missing, never, build)"),
                ));
            }
        }
    }
    for (key, decl) in plan.model.get("volumes").into_iter().flat_map(Node::entries) {
        let name = plan.volume_name(key);
        if is_true(decl.get("external")) && !backend.volume_exists(&name)? {
            return Err(ComposeError::Project(format!("external volume {name:?} not found")));
        }
    }
    for image in pulls.iter().filter(|i| !builds.iter().any(|b| b.tags[0] == **i)) {
        progress("Image", image, "Pulling");
        backend.pull(image)?;
        progress("Image", image, "Pulled");
    }
    super::builds::build_in_order(plan, backend, builds, progress)
}

fn labels_of(decl: Option<&Node>, project: &str, kind: &str, key: &str) -> Map<String, J> {
    let mut labels: Map<String, J> = decl
        .and_then(|d| d.get("labels"))
        .map(convert::map)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, json!(v.unwrap_or_default())))
        .collect();
    labels.insert("com.docker.compose.project".into(), json!(project));
    labels.insert(format!("com.docker.compose.{kind}"), json!(key));
    labels
}

fn driver_opts(decl: Option<&Node>) -> Map<String, J> {
    decl.and_then(|d| d.get("driver_opts"))
        .map(convert::map)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, json!(v.unwrap_or_default())))
        .collect()
}

/// The networks the services use, made when missing.
pub(super) fn networks(
    plan: &Plan,
    backend: &dyn Backend,
    services: &[(&str, &Node)],
    progress: Progress,
) -> Result<()> {
    let mut used: Vec<String> = Vec::new();
    for (_, svc) in services {
        for n in service_networks(svc) {
            if !used.contains(&n) {
                used.push(n);
            }
        }
    }
    for key in &used {
        let decl = plan.model.get("networks").and_then(|n| n.get(key));
        let name = plan.network_name(key);
        if backend.network_exists(&name)? {
            continue;
        }
        if is_true(decl.and_then(|d| d.get("external"))) {
            return Err(ComposeError::Project(format!("network {name} declared as external, but could not be found")));
        }
        let opt = |k: &str| decl.and_then(|d| d.get(k));
        let mut body = json!({"Name": name, "CheckDuplicate": true,
            "Labels": labels_of(decl, plan.project, "network", key),
            "Driver": opt("driver").and_then(Node::as_str).unwrap_or("bridge"),
            "Internal": is_true(opt("internal")), "Attachable": is_true(opt("attachable")),
            "EnableIPv6": is_true(opt("enable_ipv6"))});
        let options = driver_opts(decl);
        if !options.is_empty() {
            body["Options"] = J::Object(options);
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
        progress("Network", &name, "Creating");
        backend.create_network(&body)?;
        progress("Network", &name, "Created");
    }
    Ok(())
}

/// The project's volumes, made when missing.
pub(super) fn volumes(plan: &Plan, backend: &dyn Backend, progress: Progress) -> Result<()> {
    for (key, decl) in plan.model.get("volumes").into_iter().flat_map(Node::entries) {
        let name = plan.volume_name(key);
        if backend.volume_exists(&name)? {
            continue;
        }
        if is_true(decl.get("external")) {
            return Err(ComposeError::Project(format!("external volume {name:?} not found")));
        }
        let body = json!({"Name": name, "Driver": decl.get("driver").and_then(Node::as_str).unwrap_or("local"),
            "DriverOpts": driver_opts(Some(decl)), "Labels": labels_of(Some(decl), plan.project, "volume", key)});
        progress("Volume", &name, "Creating");
        backend.create_volume(&body)?;
        progress("Volume", &name, "Created");
    }
    Ok(())
}
