//! A service of the model into the Engine API's container-create body
//! (API 1.41, what any Docker-API daemon takes), named and labelled as
//! Docker Compose v2 does (`proj-svc-1`, `com.docker.compose.*`). Every
//! key of a service is either honoured here, consumed by the project's
//! own steps (`build`, `depends_on`, `profiles`, `scale`, `deploy.replicas`,
//! `container_name`, `pull_policy`, `develop`), or refused with an error
//! naming the key and where it was written — never dropped.

use serde_json::{json, Map, Value as J};
use sha2::{Digest, Sha256};

use crate::error::{ComposeError, Result};
use crate::units;
use crate::yaml::{Node, Value};

mod fields;
#[cfg(test)]
mod tests;

use fields::{deploy, healthcheck, ports, ulimits, volumes};

/// Keys the project's own steps read (not part of the container).
const CONSUMED: [&str; 9] =
    ["build", "depends_on", "profiles", "scale", "container_name", "pull_policy", "develop", "extends", "links"];

/// What converting needs from the project.
pub struct Cx<'a> {
    pub project: &'a str,
    /// The project's variables then the shell (for `environment` entries without a value).
    pub lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The project's files (the `config_files` label) and directory.
    pub files: &'a [String],
    pub directory: &'a str,
    /// The top-level volumes: key → the name it has on the engine.
    pub volumes: &'a [(String, String)],
}

/// The top-level volumes' engine names: `name:` if given (an external
/// volume's is its own), else `project_key`.
pub fn volume_names(project: &str, model: &Node) -> Vec<(String, String)> {
    match model.get("volumes").map(|v| &v.value) {
        Some(Value::Map(e)) => e
            .iter()
            .map(|(k, v)| {
                let name = v.get("name").and_then(Node::as_str).map(str::to_string);
                (k.name.clone(), name.unwrap_or_else(|| format!("{project}_{}", k.name)))
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn unsupported(n: &Node, path: &str, why: &str) -> ComposeError {
    ComposeError::Unsupported { at: n.pos.at(), path: path.to_string(), reason: why.to_string() }
}

pub(crate) fn text(n: &Node) -> Option<String> {
    n.scalar_text()
}

pub(crate) fn list(n: &Node) -> Vec<String> {
    match &n.value {
        Value::Seq(items) => items.iter().filter_map(text).collect(),
        _ => text(n).into_iter().collect(),
    }
}

pub(crate) fn map(n: &Node) -> Vec<(String, Option<String>)> {
    match &n.value {
        Value::Map(e) => e.iter().map(|(k, v)| (k.name.clone(), text(v))).collect(),
        _ => Vec::new(),
    }
}

/// Refuses a mapping's keys other than `allowed` and `x-` extensions (a null is no keys).
pub(crate) fn only_keys(n: &Node, path: &str, allowed: &[&str]) -> Result<()> {
    if let Value::Map(entries) = &n.value {
        let unknown = |k: &str| !allowed.contains(&k) && !k.starts_with("x-");
        if let Some((k, v)) = entries.iter().find(|(k, _)| unknown(&k.name)) {
            return Err(unsupported(v, &format!("{path}.{}", k.name), "not supported by wharf compose yet"));
        }
    }
    Ok(())
}

/// A boolean, also written as a string (`"${PRIV:-true}"`), as Go's ParseBool reads it.
pub(crate) fn boolean(n: &Node) -> std::result::Result<bool, String> {
    match &n.value {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) => match s.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(format!("{s:?} is not a boolean")),
        },
        _ => Err(format!("a boolean, not {}", n.kind())),
    }
}

/// An integer, also written as a string (`"${LIMIT:-100}"`).
pub(crate) fn integer(n: &Node) -> std::result::Result<i64, String> {
    match &n.value {
        Value::Int(i) => Ok(*i),
        Value::Str(s) => s.trim().parse().map_err(|_| format!("{s:?} is not an integer")),
        _ => Err(format!("an integer, not {}", n.kind())),
    }
}

/// The container name of replica `number` (`container_name` for the only one).
pub fn container_name(project: &str, service: &str, svc: &Node, number: u32) -> String {
    match svc.get("container_name").and_then(Node::as_str) {
        Some(n) => n.to_string(),
        None => format!("{project}-{service}-{number}"),
    }
}

/// The image a service runs: `image:`, or for a service that is only
/// built, `project-service` (as Compose v2 names it).
pub fn image_name(project: &str, service: &str, svc: &Node) -> Option<String> {
    match svc.get("image").and_then(text) {
        Some(i) => Some(i),
        None => svc.get("build").map(|_| format!("{project}-{service}")),
    }
}

/// The hash of what makes the container (Compose's `config-hash` label):
/// the service without the keys that do not change a container.
pub fn config_hash(svc: &Node) -> String {
    let mut j = svc.to_json();
    if let Some(o) = j.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles", "develop"] {
            o.remove(k);
        }
        if let Some(d) = o.get_mut("deploy").and_then(J::as_object_mut) {
            d.remove("replicas");
        }
    }
    let digest = Sha256::digest(serde_json::to_vec(&j).expect("json"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The create body of replica `number` of `service`.
pub fn create_body(cx: &Cx, service: &str, svc: &Node, number: u32) -> Result<J> {
    let Value::Map(fields) = &svc.value else {
        return Err(unsupported(svc, &format!("services.{service}"), "a service is a mapping"));
    };
    let mut body = Map::new();
    let mut host = Map::new();
    let mut labels = Map::new();
    // env_file entries (a later file wins), then `environment` over them.
    let mut env: Vec<(String, String)> = Vec::new();
    let mut file_env: Vec<(String, String)> = Vec::new();
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    let mut mounts: Vec<J> = Vec::new();
    let mut binds: Vec<J> = Vec::new();
    for (k, v) in fields {
        let path = format!("services.{service}.{}", k.name);
        let key = k.name.as_str();
        if CONSUMED.contains(&key) || key.starts_with("x-") {
            continue;
        }
        let bad = |why: &str| unsupported(v, &path, why);
        let s = || text(v).ok_or_else(|| bad("a string"));
        match key {
            "image" => {
                body.insert("Image".into(), json!(s()?));
            }
            "command" => {
                body.insert("Cmd".into(), json!(units::command(v).map_err(|e| bad(&e))?));
            }
            "entrypoint" => {
                body.insert("Entrypoint".into(), json!(units::command(v).map_err(|e| bad(&e))?));
            }
            "environment" => {
                for (name, value) in map(v) {
                    // A name without a value comes from the project's variables, or is left out.
                    if let Some(value) = value.or_else(|| (cx.lookup)(&name)) {
                        env.retain(|(n, _)| *n != name);
                        env.push((name, value));
                    }
                }
            }
            "env_file" => {
                let Value::Seq(items) = &v.value else { return Err(bad("a list of files")) };
                for item in items {
                    let (file, required) = match &item.value {
                        Value::Str(f) => (f.clone(), true),
                        _ => (
                            item.get("path").and_then(Node::as_str).unwrap_or_default().to_string(),
                            !matches!(item.get("required").map(|r| &r.value), Some(Value::Bool(false))),
                        ),
                    };
                    let p = std::path::Path::new(&file);
                    if !p.exists() && !required {
                        continue;
                    }
                    let content = crate::loader::read_bounded(p)?;
                    for (name, value) in crate::dotenv::parse(p, &content, cx.lookup)? {
                        file_env.retain(|(n, _)| *n != name);
                        file_env.push((name, value));
                    }
                }
            }
            "working_dir" => {
                body.insert("WorkingDir".into(), json!(s()?));
            }
            "user" => {
                body.insert("User".into(), json!(s()?));
            }
            "hostname" => {
                body.insert("Hostname".into(), json!(s()?));
            }
            "domainname" => {
                body.insert("Domainname".into(), json!(s()?));
            }
            "mac_address" => {
                body.insert("MacAddress".into(), json!(s()?));
            }
            "labels" => {
                for (name, value) in map(v) {
                    labels.insert(name, json!(value.unwrap_or_default()));
                }
            }
            "tty" => {
                body.insert("Tty".into(), json!(boolean(v).map_err(|e| bad(&e))?));
            }
            "stdin_open" => {
                body.insert("OpenStdin".into(), json!(boolean(v).map_err(|e| bad(&e))?));
            }
            "stop_signal" => {
                body.insert("StopSignal".into(), json!(s()?));
            }
            "stop_grace_period" => {
                let ns = units::duration_ns(v).map_err(|e| bad(&e))?;
                body.insert("StopTimeout".into(), json!(ns / 1_000_000_000));
            }
            "healthcheck" => {
                body.insert("Healthcheck".into(), healthcheck(v, &path)?);
            }
            "expose" => {
                for p in list(v) {
                    let p = if p.contains('/') { p } else { format!("{p}/tcp") };
                    exposed.insert(p, json!({}));
                }
            }
            "ports" => ports(v, &path, &mut exposed, &mut bindings)?,
            "volumes" => volumes(cx, v, &path, &mut mounts, &mut binds)?,
            "tmpfs" => {
                let t: Map<String, J> = list(v)
                    .into_iter()
                    .map(|e| match e.split_once(':') {
                        Some((p, o)) => (p.to_string(), json!(o)),
                        None => (e, json!("")),
                    })
                    .collect();
                host.insert("Tmpfs".into(), J::Object(t));
            }
            "restart" => {
                let r = s()?;
                let (name, count) = match r.split_once(':') {
                    Some(("on-failure", n)) => ("on-failure", n.parse::<i64>().map_err(|_| bad("on-failure[:N]"))?),
                    _ => (r.as_str(), 0),
                };
                if !["no", "always", "on-failure", "unless-stopped"].contains(&name) {
                    return Err(bad("no, always, on-failure[:N] or unless-stopped"));
                }
                host.insert(
                    "RestartPolicy".into(),
                    json!({"Name": if name == "no" { "" } else { name }, "MaximumRetryCount": count}),
                );
            }
            "init" | "privileged" | "read_only" => {
                let name = match key {
                    "init" => "Init",
                    "privileged" => "Privileged",
                    _ => "ReadonlyRootfs",
                };
                host.insert(name.into(), json!(boolean(v).map_err(|e| bad(&e))?));
            }
            "cap_add" | "cap_drop" | "dns" | "dns_search" | "dns_opt" | "security_opt" | "group_add" => {
                let name = match key {
                    "cap_add" => "CapAdd",
                    "cap_drop" => "CapDrop",
                    "dns" => "Dns",
                    "dns_search" => "DnsSearch",
                    "dns_opt" => "DnsOptions",
                    "security_opt" => "SecurityOpt",
                    _ => "GroupAdd",
                };
                host.insert(name.into(), json!(list(v)));
            }
            "extra_hosts" => {
                let hosts: Vec<String> = match &v.value {
                    Value::Map(_) => {
                        map(v).into_iter().map(|(h, ip)| format!("{h}:{}", ip.unwrap_or_default())).collect()
                    }
                    _ => list(v).into_iter().map(|e| e.replacen('=', ":", 1)).collect(),
                };
                host.insert("ExtraHosts".into(), json!(hosts));
            }
            "sysctls" => {
                let m: Map<String, J> = map(v).into_iter().map(|(k, v)| (k, json!(v.unwrap_or_default()))).collect();
                host.insert("Sysctls".into(), J::Object(m));
            }
            "ulimits" => {
                host.insert("Ulimits".into(), ulimits(v, &path)?);
            }
            "shm_size" | "mem_limit" | "memswap_limit" | "mem_reservation" => {
                let bytes = units::bytes(v).map_err(|e| bad(&e))?;
                let name = match key {
                    "shm_size" => "ShmSize",
                    "mem_limit" => "Memory",
                    "memswap_limit" => "MemorySwap",
                    _ => "MemoryReservation",
                };
                host.insert(name.into(), json!(bytes));
            }
            "cpus" => {
                let c: f64 = s()?.parse().map_err(|_| bad("a number of CPUs"))?;
                host.insert("NanoCpus".into(), json!((c * 1e9) as i64));
            }
            "cpu_shares" | "pids_limit" | "oom_score_adj" => {
                let i = integer(v).map_err(|e| bad(&e))?;
                let name = match key {
                    "cpu_shares" => "CpuShares",
                    "pids_limit" => "PidsLimit",
                    _ => "OomScoreAdj",
                };
                host.insert(name.into(), json!(i));
            }
            "cpuset" => {
                host.insert("CpusetCpus".into(), json!(s()?));
            }
            "ipc" | "pid" => {
                host.insert(if key == "ipc" { "IpcMode" } else { "PidMode" }.into(), json!(s()?));
            }
            "logging" => {
                let driver = v.get("driver").and_then(Node::as_str).unwrap_or("json-file");
                let opts: Map<String, J> = v
                    .get("options")
                    .map(map)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, o)| (k, json!(o.unwrap_or_default())))
                    .collect();
                host.insert("LogConfig".into(), json!({"Type": driver, "Config": opts}));
            }
            "deploy" => deploy(v, &path, &mut host)?,
            // Wired by the project (names, aliases, addresses, the primary
            // network); what it does not wire is refused here.
            "networks" => {
                if let Value::Map(nets) = &v.value {
                    for (net, cfg) in nets {
                        only_keys(cfg, &format!("{path}.{}", net.name), &["aliases", "ipv4_address", "ipv6_address"])?;
                    }
                }
            }
            "network_mode" | "volumes_from" | "secrets" | "configs" => {}
            _ => return Err(bad("not supported by wharf compose yet")),
        }
    }
    if !body.contains_key("Image") {
        if let Some(i) = image_name(cx.project, service, svc) {
            body.insert("Image".into(), json!(i));
        }
    }
    labels.insert("com.docker.compose.project".into(), json!(cx.project));
    labels.insert("com.docker.compose.service".into(), json!(service));
    labels.insert("com.docker.compose.container-number".into(), json!(number.to_string()));
    labels.insert("com.docker.compose.oneoff".into(), json!("False"));
    labels.insert("com.docker.compose.config-hash".into(), json!(config_hash(svc)));
    labels.insert("com.docker.compose.project.config_files".into(), json!(cx.files.join(",")));
    labels.insert("com.docker.compose.project.working_dir".into(), json!(cx.directory));
    let deps: Vec<String> = match svc.get("depends_on").map(|d| &d.value) {
        Some(Value::Map(e)) => e
            .iter()
            .map(|(k, d)| {
                let cond = d.get("condition").and_then(Node::as_str).unwrap_or("service_started");
                let restart = matches!(d.get("restart").map(|r| &r.value), Some(Value::Bool(true)));
                format!("{}:{cond}:{restart}", k.name)
            })
            .collect(),
        _ => Vec::new(),
    };
    labels.insert("com.docker.compose.depends_on".into(), json!(deps.join(",")));
    body.insert("Labels".into(), J::Object(labels));
    for (name, value) in env {
        file_env.retain(|(n, _)| *n != name);
        file_env.push((name, value));
    }
    body.insert("Env".into(), json!(file_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()));
    if !exposed.is_empty() {
        body.insert("ExposedPorts".into(), J::Object(exposed));
    }
    if !bindings.is_empty() {
        host.insert("PortBindings".into(), J::Object(bindings));
    }
    if !mounts.is_empty() {
        host.insert("Mounts".into(), J::Array(mounts));
    }
    if !binds.is_empty() {
        host.insert("Binds".into(), J::Array(binds));
    }
    body.insert("HostConfig".into(), J::Object(host));
    Ok(J::Object(body))
}
