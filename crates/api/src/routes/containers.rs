//! /containers/…: create, list, inspect, start, wait, attach (hijacked),
//! stop, kill, restart, remove, logs, resize.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wharf_engine::volumes::MountRequest;
use wharf_engine::{Container, CreateRequest, RunOptions, Status};

use super::{blocking, json, read_json, status, unix_secs, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

/// What the daemon learns when a container's process ends.
#[derive(Debug, Clone, Default)]
pub struct ExitEvent {
    pub generation: u64,
    pub exit_code: Option<i32>,
    pub removed: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    auto_remove: bool,
    memory: i64,
    nano_cpus: i64,
    cpu_quota: i64,
    cpu_period: i64,
    pids_limit: Option<i64>,
    privileged: bool,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    readonly_rootfs: bool,
    network_mode: String,
    binds: Option<Vec<String>>,
    ulimits: Option<Vec<UlimitBody>>,
    mounts: Option<Vec<MountBody>>,
    tmpfs: Option<BTreeMap<String, String>>,
    restart_policy: Option<wharf_engine::containers::RestartPolicy>,
    init: Option<bool>,
    cpuset_cpus: String,
    cpuset_mems: String,
    port_bindings: Option<BTreeMap<String, Option<Vec<PortBindingBody>>>>,
    publish_all_ports: bool,
    log_config: Option<LogConfigBody>,
    extra_hosts: Option<Vec<String>>,
    dns: Option<Vec<String>>,
    cpu_shares: i64,
    shm_size: i64,
    security_opt: Option<Vec<String>>,
    sysctls: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LogConfigBody {
    #[serde(rename = "Type")]
    typ: String,
    config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PortBindingBody {
    host_ip: String,
    host_port: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, Option<EndpointBody>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointBody {
    aliases: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UlimitBody {
    name: String,
    soft: u64,
    hard: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MountBody {
    #[serde(rename = "Type")]
    typ: String,
    source: String,
    target: String,
    read_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    image: String,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Value>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    hostname: String,
    tty: bool,
    open_stdin: bool,
    labels: Option<BTreeMap<String, String>>,
    volumes: Option<BTreeMap<String, Value>>,
    healthcheck: Option<wharf_engine::health::Healthcheck>,
    stop_signal: String,
    stop_timeout: Option<i64>,
    exposed_ports: Option<BTreeMap<String, Value>>,
    host_config: HostConfig,
    networking_config: NetworkingConfig,
}

pub async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, seg: &[&str], q: &Query) -> Reply {
    match (method, &seg[1..]) {
        (&Method::GET, ["json"]) => list(state, q).await,
        (&Method::POST, ["create"]) => create(state, req, q).await,
        (&Method::POST, ["prune"]) => prune(state).await,
        (&Method::GET, [id, "json"]) => inspect(state, id).await,
        (&Method::POST, [id, "start"]) => start(state, id).await,
        (&Method::POST, [id, "wait"]) => wait(state, id, q).await,
        (&Method::POST, [id, "attach"]) => attach(state, req, id, q).await,
        (&Method::POST, [id, "stop"]) => stop(state, id, q).await,
        (&Method::POST, [id, "restart"]) => restart(state, id, q).await,
        (&Method::POST, [id, "kill"]) => kill(state, id, q).await,
        (&Method::DELETE, [id]) => remove(state, id, q).await,
        (&Method::GET, [id, "logs"]) => logs(state, id, q).await,
        (&Method::GET, [id, "export"]) => export(state, id).await,
        (&Method::HEAD, [id, "archive"]) => archive_stat(state, id, q).await,
        (&Method::GET, [id, "archive"]) => archive_get(state, id, q).await,
        (&Method::PUT, [id, "archive"]) => archive_put(state, req, id, q).await,
        (&Method::GET, [id, "stats"]) => stats(state, id, q).await,
        (&Method::POST, [id, "pause"]) => paused(state, id, true).await,
        (&Method::POST, [id, "unpause"]) => paused(state, id, false).await,
        (&Method::POST, [id, "rename"]) => {
            let name = q
                .get("name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiError::bad_request("name is required"))?
                .to_string();
            let (st, key) = (state.clone(), id.to_string());
            blocking(move || Ok(st.engine.rename(&key, &name)?)).await?;
            status(StatusCode::NO_CONTENT)
        }
        (&Method::GET, [id, "top"]) => {
            let (st, key) = (state.clone(), id.to_string());
            let rows = blocking(move || Ok(st.engine.top(&key)?)).await?;
            json(StatusCode::OK, &json!({"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": rows}))
        }
        (&Method::POST, [id, "resize"]) => {
            let c = get(&state, id).await?;
            let (h, w) = (q.dimension("h")?, q.dimension("w")?);
            if !matches!(c.state.status, Status::Running | Status::Paused) {
                return Err(ApiError::conflict(format!("Container {} is not running", c.id)));
            }
            if c.opts.tty && h > 0 && w > 0 {
                if let Ok(mut s) = tokio::net::UnixStream::connect(state.engine.monitor_socket(&c.id)).await {
                    let _ = s.write_all(format!("resize {h} {w}\n").as_bytes()).await;
                }
            }
            status(StatusCode::OK)
        }
        _ => Err(ApiError::not_found(format!("page not found: {method} /{}", seg.join("/")))),
    }
}

pub(super) async fn get(state: &Arc<State>, id: &str) -> Result<Container, ApiError> {
    let st = state.clone();
    let id = id.to_string();
    blocking(move || Ok(st.engine.get(&id)?)).await
}

fn ago(rfc3339: Option<&str>) -> String {
    let secs =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
            - unix_secs(rfc3339))
        .max(0);
    match secs {
        0 => "Less than a second".into(),
        1..=59 => format!("{secs} seconds"),
        60..=3599 => format!("{} minutes", secs / 60),
        3600..=86_399 => format!("{} hours", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

fn status_text(c: &Container, root: &std::path::Path) -> String {
    match c.state.status {
        Status::Running if c.healthcheck.is_some() => {
            let h = wharf_engine::health::load(root, &c.id).unwrap_or_default();
            let h = if h.status == "starting" { "health: starting".to_string() } else { h.status };
            format!("Up {} ({h})", ago(c.state.started_at.as_deref()))
        }
        Status::Running => format!("Up {}", ago(c.state.started_at.as_deref())),
        Status::Paused => format!("Up {} (Paused)", ago(c.state.started_at.as_deref())),
        Status::Exited => format!("Exited ({}) {} ago", c.state.exit_code, ago(c.state.finished_at.as_deref())),
        Status::Created => "Created".into(),
        Status::Restarting => {
            format!("Restarting ({}) {} ago", c.state.exit_code, ago(c.state.finished_at.as_deref()))
        }
        ref s => s.to_string(),
    }
}

fn network_mode(c: &Container) -> String {
    if c.opts.network.is_empty() {
        "default".into()
    } else {
        c.opts.network.clone()
    }
}

/// `HostConfig.PortBindings` shape: `{"80/tcp": [{"HostIp", "HostPort"}]}`.
fn port_bindings(list: &[wharf_engine::network::PortBinding]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for b in list {
        let port = if b.host_port == 0 { String::new() } else { b.host_port.to_string() };
        out.entry(b.key()).or_default().push(json!({"HostIp": b.host_ip, "HostPort": port}));
    }
    out
}

/// `ps`'s `Ports`: what a running container serves.
fn port_list(c: &Container) -> Vec<Value> {
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return Vec::new();
    }
    c.state
        .ports
        .iter()
        .map(|b| {
            let ip = if b.host_ip.is_empty() { "0.0.0.0" } else { b.host_ip.as_str() };
            json!({"IP": ip, "PrivatePort": b.container_port, "PublicPort": b.host_port, "Type": b.proto})
        })
        .collect()
}

/// `NetworkSettings`: configured networks with the live endpoint's addresses.
fn network_settings(nets: &Option<wharf_network::Networks>, c: &Container) -> Result<Value, ApiError> {
    let live = matches!(c.state.status, Status::Running | Status::Paused);
    let endpoints = match (nets, live) {
        (Some(n), true) => n.endpoints_of(&c.id)?,
        _ => Vec::new(),
    };
    let mut names = wharf_engine::network::attachments(&c.opts);
    if matches!(c.opts.network.as_str(), "host" | "none") {
        names.push(c.opts.network.clone());
    }
    let mut networks = serde_json::Map::new();
    for name in &names {
        let ep = endpoints.iter().find(|e| &e.network_name == name);
        let network_id = nets.as_ref().and_then(|n| n.get(name).ok()).map(|n| n.id).unwrap_or_default();
        networks.insert(
            name.clone(),
            json!({"IPAMConfig": null, "Links": null, "Aliases": ep.map(|e| e.aliases.clone()).or_else(|| c.opts.networks.get(name).cloned()),
                   "NetworkID": network_id, "EndpointID": ep.map(|e| e.id.clone()).unwrap_or_default(),
                   "Gateway": ep.map(|e| e.gateway.clone()).unwrap_or_default(), "IPAddress": ep.map(|e| e.ip.clone()).unwrap_or_default(),
                   "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0), "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                   "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(), "DriverOpts": null}),
        );
    }
    let mut ports: BTreeMap<String, Value> = BTreeMap::new();
    if live {
        for (k, v) in port_bindings(&c.state.ports) {
            ports.insert(
                k,
                json!(v
                    .into_iter()
                    .map(|mut b| {
                        if b["HostIp"] == "" {
                            b["HostIp"] = json!("0.0.0.0");
                        }
                        b
                    })
                    .collect::<Vec<_>>()),
            );
        }
    }
    let first = endpoints.first();
    Ok(json!({"Networks": networks, "Ports": ports, "Bridge": "", "SandboxID": "", "HairpinMode": false,
           "SandboxKey": if first.is_some() { format!("/run/netns/{}", wharf_network::Networks::sandbox_name(&c.id)) } else { String::new() },
           "IPAddress": first.map(|e| e.ip.clone()).unwrap_or_default(), "IPPrefixLen": first.map(|e| e.prefix).unwrap_or(0),
           "Gateway": first.map(|e| e.gateway.clone()).unwrap_or_default(), "MacAddress": first.map(|e| e.mac.clone()).unwrap_or_default(),
           "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "", "EndpointID": first.map(|e| e.id.clone()).unwrap_or_default()}))
}

fn command_of(c: &Container) -> String {
    let mut parts = c.opts.entrypoint.clone().unwrap_or_default();
    parts.extend(c.opts.cmd.clone());
    parts.join(" ")
}

/// Docker's `ps` filters; values of one key are ORed, keys ANDed.
fn list_filter(
    filters: &BTreeMap<String, Vec<String>>,
    all: &[Container],
    root: &std::path::Path,
) -> Result<impl Fn(&Container) -> bool, ApiError> {
    for k in filters.keys() {
        if !matches!(
            k.as_str(),
            "id" | "name"
                | "label"
                | "status"
                | "ancestor"
                | "exited"
                | "network"
                | "volume"
                | "health"
                | "before"
                | "since"
                | "is-task"
                | "publish"
                | "expose"
        ) {
            return Err(ApiError::bad_request(format!("Invalid filter '{k}'")));
        }
    }
    if let Some(bad) = filters.get("status").into_iter().flatten().find(|s| {
        !matches!(s.as_str(), "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead")
    }) {
        return Err(ApiError::bad_request(format!("Invalid filter 'status={bad}'")));
    }
    let check = |key: &str, ok: &dyn Fn(&str) -> bool| -> Result<(), ApiError> {
        match filters.get(key).into_iter().flatten().find(|v| !ok(v)) {
            Some(bad) => Err(ApiError::bad_request(format!("Invalid filter '{key}={bad}'"))),
            None => Ok(()),
        }
    };
    check("exited", &|v| v.parse::<i32>().is_ok())?;
    check("health", &|v| matches!(v, "starting" | "healthy" | "unhealthy" | "none"))?;
    check("is-task", &|v| matches!(v, "true" | "false" | "1" | "0"))?;
    let created_of = |key: &str| -> Result<String, ApiError> {
        let key = key.trim_start_matches('/');
        all.iter()
            .find(|c| c.id.starts_with(key) || c.name == key)
            .map(|c| c.created.clone())
            .ok_or_else(|| ApiError::not_found(format!("No such container: {key}")))
    };
    let before = filters.get("before").and_then(|v| v.first()).map(|k| created_of(k)).transpose()?;
    let since = filters.get("since").and_then(|v| v.first()).map(|k| created_of(k)).transpose()?;
    let filters = filters.clone();
    let root = root.to_path_buf();
    Ok(move |c: &Container| {
        if before.as_ref().is_some_and(|b| c.created >= *b) || since.as_ref().is_some_and(|s| c.created <= *s) {
            return false;
        }
        filters.iter().filter(|(k, _)| !matches!(k.as_str(), "before" | "since")).all(|(k, vals)| {
            // Labels must all match (as Docker); other keys match any of their values.
            let pred = |v: &String| match k.as_str() {
                "id" => c.id.starts_with(v.as_str()),
                "name" => c.name.contains(v.trim_start_matches('/')),
                "label" => wharf_engine::events::label_matches(&c.labels, v),
                "status" => c.state.status.to_string() == *v,
                "ancestor" => c.image == *v || c.image_id.contains(v.as_str()) || c.image.split(':').next() == Some(v),
                "exited" => c.state.status == Status::Exited && v.parse::<i32>().ok() == Some(c.state.exit_code),
                "network" => c.opts.networks.contains_key(v) || c.opts.network == *v,
                "volume" => c.opts.mounts.iter().any(|m| m.source == *v || m.target == *v),
                "health" => {
                    let h = wharf_engine::health::load(&root, &c.id).map(|h| h.status);
                    match (v.as_str(), c.healthcheck.is_some()) {
                        ("none", has) => !has,
                        (_, true) => h.as_deref().unwrap_or("starting") == v,
                        _ => false,
                    }
                }
                "publish" | "expose" => c
                    .state
                    .ports
                    .iter()
                    .any(|p| p.key() == *v || p.container_port.to_string() == *v || p.host_port.to_string() == *v),
                _ => true,
            };
            wharf_engine::events::key_matches(k, vals, pred)
        })
    })
}

async fn list(state: Arc<State>, q: &Query) -> Reply {
    let all = q.flag("all");
    let filters = q.filters()?;
    let limit = q.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0).map(|l| l as usize);
    let st = state.clone();
    let (containers, nets) = blocking(move || Ok((st.engine.list()?, st.engine.networks().ok()))).await?;
    let keep = list_filter(&filters, &containers, state.engine.root())?;
    // Docker: a status filter (or a limit) shows stopped containers too.
    let all = all || filters.contains_key("status") || filters.contains_key("exited") || limit.is_some();
    let out: Vec<Value> = containers
        .iter()
        .filter(|c| all || matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting))
        .filter(|c| keep(c))
        .take(limit.unwrap_or(usize::MAX))
        .map(|c| {
            Ok(json!({
                "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": c.image_id,
                "Command": command_of(c), "Created": unix_secs(Some(&c.created)), "Ports": port_list(c), "Labels": c.labels,
                "State": c.state.status.to_string(), "Status": status_text(c, state.engine.root()),
                "HostConfig": {"NetworkMode": network_mode(c)}, "NetworkSettings": {"Networks": network_settings(&nets, c)?["Networks"]}, "Mounts": [],
            }))
        })
        .collect::<Result<_, ApiError>>()?;
    json(StatusCode::OK, &out)
}

fn to_options(b: CreateBody) -> Result<RunOptions, ApiError> {
    if b.image.is_empty() {
        return Err(ApiError::bad_request("config.Image is required"));
    }
    let entrypoint = match b.entrypoint {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s]),
        Some(Value::Array(a)) => Some(a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
        Some(other) => return Err(ApiError::bad_request(format!("invalid Entrypoint {other}"))),
    };
    let h = b.host_config;
    let cpus = if h.nano_cpus != 0 {
        Some(h.nano_cpus as f64 / 1e9)
    } else if h.cpu_quota > 0 {
        Some(h.cpu_quota as f64 / if h.cpu_period > 0 { h.cpu_period as f64 } else { 100_000.0 })
    } else {
        None
    };
    let mut mounts = Vec::new();
    for bind in h.binds.iter().flatten() {
        mounts.push(MountRequest::parse_bind(bind).map_err(ApiError::from)?);
    }
    for m in h.mounts.iter().flatten() {
        if !m.target.starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "invalid mount config: mount path must be absolute: {:?}",
                m.target
            )));
        }
        mounts.push(MountRequest {
            typ: m.typ.clone(),
            source: m.source.clone(),
            target: m.target.clone(),
            read_only: m.read_only,
        });
    }
    for target in h.tmpfs.iter().flatten().map(|(t, _)| t) {
        mounts.push(MountRequest { typ: "tmpfs".into(), target: target.clone(), ..Default::default() });
    }
    for target in b.volumes.iter().flatten().map(|(t, _)| t) {
        if !mounts.iter().any(|m| &m.target == target) {
            mounts.push(MountRequest { typ: "volume".into(), target: target.clone(), ..Default::default() });
        }
    }
    let ulimits = h.ulimits.iter().flatten().map(|u| (u.name.clone(), u.soft, u.hard)).collect();
    let mut publish = Vec::new();
    for (key, bindings) in h.port_bindings.iter().flatten() {
        for b in bindings.iter().flatten() {
            let spec = match (b.host_ip.as_str(), b.host_port.as_str()) {
                ("", "") => key.clone(),
                ("", p) => format!("{p}:{key}"),
                (ip, p) => format!("{ip}:{p}:{key}"),
            };
            publish.extend(wharf_engine::network::PortBinding::parse(&spec).map_err(ApiError::from)?);
        }
    }
    let exposed: Vec<String> = b.exposed_ports.iter().flatten().map(|(k, _)| k.clone()).collect();
    if h.publish_all_ports {
        for key in &exposed {
            for p in wharf_engine::network::PortBinding::parse(key).map_err(ApiError::from)? {
                if !publish.iter().any(|x| x.key() == p.key()) {
                    publish.push(p);
                }
            }
        }
    }
    let networks = b
        .networking_config
        .endpoints_config
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ep)| {
            let name = if name == "default" { "bridge".to_string() } else { name };
            (name, ep.and_then(|e| e.aliases).unwrap_or_default())
        })
        .collect();
    Ok(RunOptions {
        ulimits,
        mounts,
        image: b.image,
        cmd: b.cmd.unwrap_or_default(),
        entrypoint,
        env: b.env.unwrap_or_default(),
        workdir: Some(b.working_dir).filter(|w| !w.is_empty()),
        user: Some(b.user).filter(|u| !u.is_empty()),
        hostname: Some(b.hostname).filter(|h| !h.is_empty()),
        tty: b.tty,
        read_only: h.readonly_rootfs,
        privileged: h.privileged,
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        memory: Some(h.memory).filter(|m| *m != 0),
        cpus,
        pids_limit: h.pids_limit.filter(|p| *p != 0),
        cpuset_cpus: Some(h.cpuset_cpus).filter(|c| !c.is_empty()),
        cpuset_mems: Some(h.cpuset_mems).filter(|c| !c.is_empty()),
        init: h.init.unwrap_or(false),
        network: if h.network_mode == "default" { String::new() } else { h.network_mode },
        networks,
        publish,
        publish_all: h.publish_all_ports,
        extra_hosts: h.extra_hosts.unwrap_or_default(),
        dns: h.dns.unwrap_or_default(),
        cpu_shares: Some(h.cpu_shares).filter(|s| *s != 0),
        shm_size: Some(h.shm_size).filter(|s| *s != 0),
        security_opt: h.security_opt.unwrap_or_default(),
        sysctls: h.sysctls.unwrap_or_default(),
    })
}

async fn create(state: Arc<State>, req: Request<Incoming>, q: &Query) -> Reply {
    let body: CreateBody = read_json(req).await?;
    let auto_remove = body.host_config.auto_remove;
    let restart_policy = body.host_config.restart_policy.clone().unwrap_or_default();
    let healthcheck = body.healthcheck.clone();
    let stop_signal = Some(body.stop_signal.clone()).filter(|s| !s.is_empty());
    let stop_timeout = body.stop_timeout.filter(|t| *t >= 0).map(|t| t as u64);
    let log = match &body.host_config.log_config {
        Some(l) => wharf_engine::containers::LogOptions::from_docker(&l.typ, &l.config.clone().unwrap_or_default())
            .map_err(ApiError::from)?,
        None => Default::default(),
    };
    let open_stdin = body.open_stdin;
    let labels = body.labels.clone().unwrap_or_default();
    let opts = to_options(body)?;
    let name = q.get("name").map(str::to_string);
    let st = state.clone();
    let c = blocking(move || {
        Ok(st.engine.create(CreateRequest {
            name,
            opts,
            labels,
            auto_remove,
            open_stdin,
            restart_policy,
            healthcheck,
            stop_signal,
            stop_timeout,
            log,
        })?)
    })
    .await?;
    json(StatusCode::CREATED, &json!({"Id": c.id, "Warnings": []}))
}

async fn inspect(state: Arc<State>, id: &str) -> Reply {
    let c = get(&state, id).await?;
    let st = state.clone();
    let nets = blocking(move || Ok(st.engine.networks().ok())).await?;
    let s = &c.state;
    let args = {
        let mut a = c.opts.entrypoint.clone().unwrap_or_default();
        a.extend(c.opts.cmd.clone());
        a
    };
    let health = wharf_engine::health::load(state.engine.root(), &c.id);
    let mut v = json!({
            "Id": c.id, "Created": c.created, "Path": args.first().cloned().unwrap_or_default(), "Args": args.iter().skip(1).collect::<Vec<_>>(),
            "State": {"Status": s.status.to_string(), "Running": s.status == Status::Running || s.status == Status::Paused,
                      "Paused": s.status == Status::Paused, "Restarting": s.status == Status::Restarting, "OOMKilled": s.oom_killed, "Dead": s.status == Status::Dead,
                      "Pid": s.pid, "ExitCode": s.exit_code, "Error": s.error,
                      "StartedAt": s.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                      "FinishedAt": s.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
            "Image": c.image_id, "Name": format!("/{}", c.name), "RestartCount": c.restart_count, "Driver": "overlay2", "Platform": "linux",
            "LogPath": Container::log_path(state.engine.root(), &c.id),
            "HostConfig": {"AutoRemove": c.auto_remove, "RestartPolicy": {"Name": if c.restart_policy.name.is_empty() { "no" } else { c.restart_policy.name.as_str() }, "MaximumRetryCount": c.restart_policy.maximum_retry_count}, "Memory": c.opts.memory.unwrap_or(0), "NanoCpus": c.opts.cpus.map(|x| (x * 1e9) as i64).unwrap_or(0),
                           "PidsLimit": c.opts.pids_limit, "CpuShares": c.opts.cpu_shares.unwrap_or(0), "ShmSize": c.opts.shm_size.unwrap_or(64 << 20), "Privileged": c.opts.privileged, "ReadonlyRootfs": c.opts.read_only,
                           "CapAdd": c.opts.cap_add, "CapDrop": c.opts.cap_drop, "Init": c.opts.init,
                           "CpusetCpus": c.opts.cpuset_cpus.clone().unwrap_or_default(), "CpusetMems": c.opts.cpuset_mems.clone().unwrap_or_default(), "NetworkMode": network_mode(&c), "LogConfig": {"Type": c.log.driver, "Config": if c.log.driver == "none" { json!({}) } else { json!({"max-size": c.log.max_size.to_string(), "max-file": c.log.max_file.to_string()}) }},
                           "PortBindings": port_bindings(&c.opts.publish), "PublishAllPorts": c.opts.publish_all, "ExtraHosts": c.opts.extra_hosts, "Dns": c.opts.dns,
                           "SecurityOpt": (!c.opts.security_opt.is_empty()).then_some(&c.opts.security_opt), "Sysctls": (!c.opts.sysctls.is_empty()).then_some(&c.opts.sysctls)},
            "Config": {"Hostname": c.opts.hostname.clone().unwrap_or_else(|| c.id[..12].to_string()), "User": c.config.user.clone().unwrap_or_default(),
                       "Tty": c.opts.tty, "OpenStdin": c.open_stdin, "Env": c.config.env, "Cmd": c.config.cmd, "Entrypoint": c.config.entrypoint,
                       "Image": c.image, "WorkingDir": c.config.working_dir.clone().unwrap_or_default(), "Labels": c.labels,
                       "ExposedPorts": c.config.exposed_ports, "Volumes": c.config.volumes,
                       "AttachStdin": false, "AttachStdout": true, "AttachStderr": true},
            "NetworkSettings": network_settings(&nets, &c)?,
            "Mounts": c.opts.mounts.iter().map(|m| json!({"Type": m.typ, "Name": if m.typ == "volume" { m.source.clone() } else { String::new() },
                "Source": if m.typ == "volume" { state.engine.volume(&m.source).map(|v| v.mountpoint.display().to_string()).unwrap_or_default() } else { m.source.clone() },
                "Destination": m.target, "RW": !m.read_only, "Driver": if m.typ == "volume" { "local" } else { "" }})).collect::<Vec<_>>(),
    });
    if let Some(hc) = &c.healthcheck {
        v["Config"]["Healthcheck"] = json!(hc);
        if matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            v["State"]["Health"] = json!(health.unwrap_or_default());
        }
    }
    if let Some(sig) = &c.stop_signal {
        v["Config"]["StopSignal"] = json!(sig);
    }
    if let Some(t) = c.stop_timeout {
        v["Config"]["StopTimeout"] = json!(t);
    }
    json(StatusCode::OK, &v)
}

/// The watch channel tracking a container's exits (created on first use).
fn events(state: &State, id: &str) -> watch::Receiver<ExitEvent> {
    let mut map = state.exits.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(id.to_string()).or_insert_with(|| watch::channel(ExitEvent::default()).0).subscribe()
}

fn publish(state: &State, id: &str, f: impl FnOnce(&mut ExitEvent)) {
    let mut map = state.exits.lock().unwrap_or_else(|e| e.into_inner());
    let tx = map.entry(id.to_string()).or_insert_with(|| watch::channel(ExitEvent::default()).0);
    tx.send_modify(f);
}

/// Waits for a container's exit frame on its monitor socket, without holding a
/// thread (hundreds of idle containers must not cost hundreds of threads).
async fn wait_exit(state: &Arc<State>, id: &str) -> Option<i32> {
    loop {
        if let Some(code) = wait_exit_frame(state, id).await {
            return Some(code);
        }
        // The monitor is gone. If it recorded the exit, the record holds the
        // code; if it died first (killed, crashed), the engine adopts the
        // container: it waits for the init on a thread of its own and records
        // the exit. A monitor that is in fact alive (its socket was busy or
        // not yet bound) is waited on again.
        let (st, key) = (state.clone(), id.to_string());
        match blocking(move || Ok(st.engine.adopt(&key, &st.config.monitor_exe)?)).await {
            Ok(Some(code)) => return Some(code),
            Ok(None) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            Err(_) => return None,
        }
    }
}

/// The exit code from the monitor's exit frame, if the monitor sends one.
async fn wait_exit_frame(state: &Arc<State>, id: &str) -> Option<i32> {
    if let Ok(mut s) = tokio::net::UnixStream::connect(state.engine.monitor_socket(id)).await {
        if s.write_all(b"wait\n").await.is_ok() {
            let mut header = [0u8; 8];
            while s.read_exact(&mut header).await.is_ok() {
                let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                let mut payload = vec![0u8; len];
                if s.read_exact(&mut payload).await.is_err() {
                    break;
                }
                if header[0] == wharf_engine::monitor::EXIT {
                    return String::from_utf8_lossy(&payload).trim().parse().ok();
                }
            }
        }
    }
    None
}

/// Follows a running container until it exits: records the exit for
/// waiters, and removes the container if it was started with AutoRemove.
pub fn supervise(state: Arc<State>, id: String) {
    tokio::spawn(async move {
        let probes = super::health::watch(state.clone(), id.clone());
        loop {
            let before = get(&state, &id).await.map(|c| c.restart_count).unwrap_or(0);
            let code = wait_exit(&state, &id).await;
            publish(&state, &id, |e| {
                e.generation += 1;
                e.exit_code = code;
            });
            // The restart policy runs it again: keep following.
            let again = get(&state, &id).await.is_ok_and(|c| c.restart_count > before);
            if !again {
                break;
            }
        }
        if let Some(p) = probes {
            p.abort();
        }
        let st = state.clone();
        let rid = id.clone();
        let removed = blocking(move || {
            let c = st.engine.get(&rid)?;
            if c.auto_remove {
                st.engine.cleanup(&rid);
                st.engine.emit(&c.event("destroy", &[]));
                return Ok(true);
            }
            Ok(false)
        })
        .await
        .unwrap_or(false);
        if removed {
            publish(&state, &id, |e| e.removed = true);
        }
    });
}

async fn start(state: Arc<State>, id: &str) -> Reply {
    let c = get(&state, id).await?;
    if matches!(c.state.status, Status::Running | Status::Paused) {
        return status(StatusCode::NOT_MODIFIED);
    }
    let attachers = state.pending_attach.lock().unwrap_or_else(|e| e.into_inner()).remove(&c.id).unwrap_or(0);
    let st = state.clone();
    let cid = c.id.clone();
    let exe = state.config.monitor_exe.clone();
    if let Err(e) = blocking(move || Ok(st.engine.start(&cid, &exe, attachers)?)).await {
        // Waiters learn that this start ended the container's chance to run.
        publish(&state, &c.id, |ev| {
            ev.generation += 1;
            ev.exit_code =
                Some(if e.message.contains("executable file not found") || e.message.contains("no such executable") {
                    127
                } else {
                    128
                });
        });
        // As Docker: an AutoRemove container whose start failed is removed
        // (`docker run --rm` waits for that).
        if c.auto_remove {
            let (st, cid) = (state.clone(), c.id.clone());
            let _ = blocking(move || {
                st.engine.cleanup(&cid);
                Ok(())
            })
            .await;
            publish(&state, &c.id, |ev| ev.removed = true);
        }
        return Err(e);
    }
    supervise(state.clone(), c.id);
    status(StatusCode::NO_CONTENT)
}

/// Headers go out at once (the CLI starts the container only after it has
/// them); the JSON body follows when the condition is met.
async fn wait(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let condition = q.get("condition").unwrap_or("not-running").to_string();
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad_request(format!("invalid condition: {condition:?}")));
    }
    let mut rx = events(&state, &c.id);
    let seen = rx.borrow().generation;
    let stopped = !matches!(c.state.status, Status::Running | Status::Paused | Status::Created | Status::Restarting);
    let (tx, body) = crate::body::channel();
    tokio::spawn(async move {
        let code = if stopped && condition == "not-running" {
            Some(c.state.exit_code)
        } else {
            loop {
                let e = rx.borrow().clone();
                let exited = e.generation > seen;
                // "removed" also ends when nothing will remove it (no AutoRemove).
                if exited && (condition != "removed" || e.removed || !c.auto_remove) {
                    break e.exit_code;
                }
                if rx.changed().await.is_err() {
                    break None;
                }
            }
        };
        let msg = match code {
            Some(code) => json!({"StatusCode": code, "Error": null}),
            None => json!({"StatusCode": -1, "Error": {"Message": "wait interrupted"}}),
        };
        let _ = tx.send(format!("{msg}\n").into()).await;
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

async fn attach(state: Arc<State>, req: Request<Incoming>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let want_stdin = q.flag("stdin");
    if c.state.status == Status::Created {
        *state.pending_attach.lock().unwrap_or_else(|e| e.into_inner()).entry(c.id.clone()).or_default() += 1;
    }
    state.engine.emit(&c.event("attach", &[]));
    let upgrade = hyper::upgrade::on(req);
    let socket = state.engine.monitor_socket(&c.id);
    let tty = c.opts.tty;
    let st = state.clone();
    let cid = c.id.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let client = TokioIo::new(upgraded);
        // Wait for the monitor (the container may not be started yet); give up
        // once the container is neither created nor running (a failed start).
        let mut monitor = None;
        for i in 0u32.. {
            if let Ok(s) = tokio::net::UnixStream::connect(&socket).await {
                monitor = Some(s);
                break;
            }
            if i % 50 == 49 {
                let alive = st
                    .engine
                    .get(&cid)
                    .map(|c| matches!(c.state.status, Status::Created | Status::Running))
                    .unwrap_or(false);
                if !alive {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let Some(mut monitor) = monitor else {
            let (_, mut w) = tokio::io::split(client);
            let _ = w.shutdown().await;
            return;
        };
        if monitor.write_all(b"attach\n").await.is_err() {
            return;
        }
        let (mut mr, mut mw) = monitor.into_split();
        let (mut cr, mut cw) = tokio::io::split(client);
        let output = async move {
            let mut header = [0u8; 8];
            loop {
                if mr.read_exact(&mut header).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                let mut payload = vec![0u8; len];
                if mr.read_exact(&mut payload).await.is_err() {
                    break;
                }
                if header[0] == wharf_engine::monitor::EXIT {
                    break;
                }
                let ok = if tty {
                    cw.write_all(&payload).await
                } else {
                    cw.write_all(&[&header[..], &payload[..]].concat()).await
                };
                if ok.is_err() {
                    break;
                }
            }
            let _ = cw.shutdown().await;
        };
        let input = async move {
            let mut buf = vec![0u8; 32 << 10];
            loop {
                match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) if want_stdin => {
                        if mw.write_all(&wharf_engine::monitor::frame(0, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                }
            }
            let _ = mw.shutdown().await;
        };
        // Output decides when the session ends; input may close earlier (half-close).
        let input = tokio::spawn(input);
        output.await;
        input.abort();
    });
    let mut r = Response::new(crate::body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("Content-Type", "application/vnd.docker.raw-stream".parse().expect("static header"));
    h.insert("Connection", "Upgrade".parse().expect("static header"));
    h.insert("Upgrade", "tcp".parse().expect("static header"));
    Ok(r)
}

pub fn parse_signal(s: Option<&str>, default: i32) -> Result<i32, ApiError> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => wharf_runtime::process::parse_signal(s).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// Host-wide CPU time in nanoseconds (the denominator of `docker stats`' CPU %).
fn system_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| l.split_whitespace().skip(1).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>())
        })
        .unwrap_or(0)
        * 10_000_000 // USER_HZ = 100
}

fn stats_sample(state: &State, c: &Container, previous: &Value) -> Value {
    let s = state.engine.runtime().stats(&c.id).unwrap_or_default();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let host_mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .unwrap_or(0)
        * 1024;
    json!({
        "read": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        "preread": previous.get("read").cloned().unwrap_or(json!("0001-01-01T00:00:00Z")),
        "id": c.id, "name": format!("/{}", c.name),
        "pids_stats": {"current": s.pids},
        "cpu_stats": {"cpu_usage": {"total_usage": s.cpu_usage_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                      "system_cpu_usage": system_cpu_ns(), "online_cpus": cpus, "throttling_data": {}},
        "precpu_stats": previous.get("cpu_stats").cloned().unwrap_or(json!({"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": cpus})),
        "memory_stats": {"usage": s.memory_usage, "limit": s.memory_limit.unwrap_or(host_mem), "stats": {}},
        "blkio_stats": {}, "networks": {},
    })
}

/// `stats`: one sample (`stream=0`) or one per second until the container stops.
async fn stats(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let stream = q.get("stream").is_none_or(|s| s == "1" || s == "true");
    let one_shot = q.flag("one-shot");
    let (tx, body) = crate::body::channel();
    tokio::spawn(async move {
        let mut previous = json!({});
        // A single sample still needs a previous one for CPU %: take one, a second apart (as dockerd does).
        if !stream && !one_shot {
            let (st, cc) = (state.clone(), c.clone());
            if let Ok(first) = tokio::task::spawn_blocking(move || stats_sample(&st, &cc, &json!({}))).await {
                previous = first;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        loop {
            let (st, cc, prev) = (state.clone(), c.clone(), previous.clone());
            let Ok(sample) = tokio::task::spawn_blocking(move || stats_sample(&st, &cc, &prev)).await else { break };
            if tx.send(format!("{sample}\n").into()).await.is_err() || !stream {
                break;
            }
            previous = sample;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let running = state
                .engine
                .get(&c.id)
                .map(|c| matches!(c.state.status, Status::Running | Status::Paused))
                .unwrap_or(false);
            if !running {
                break;
            }
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

async fn paused(state: Arc<State>, id: &str, pause: bool) -> Reply {
    let (st, key) = (state.clone(), id.to_string());
    blocking(move || Ok(st.engine.set_paused(&key, pause)?)).await?;
    status(StatusCode::NO_CONTENT)
}

async fn kill(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let sig = parse_signal(q.get("signal"), 9)?;
    let c = get(&state, id).await?;
    let st = state.clone();
    blocking(move || Ok(st.engine.kill(&c.id, sig)?)).await?;
    status(StatusCode::NO_CONTENT)
}

async fn stop(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let t = match q.get("t").filter(|t| !t.is_empty()) {
        Some(t) => t.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid stop timeout {t:?}")))?,
        None => c.stop_timeout.unwrap_or(10),
    };
    let signal = match q.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(Some(s), 15)?,
        None => parse_signal(c.stop_signal.as_deref(), 15)?,
    };
    let st = state.clone();
    let stopped = blocking(move || Ok(st.engine.stop(&c.id, Duration::from_secs(t), signal)?)).await?;
    status(if stopped { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

async fn restart(state: Arc<State>, id: &str, q: &Query) -> Reply {
    stop(state.clone(), id, q).await?;
    start(state.clone(), id).await?;
    let c = get(&state, id).await?;
    state.engine.emit(&c.event("restart", &[]));
    status(StatusCode::NO_CONTENT)
}

async fn remove(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let force = q.flag("force");
    let volumes = q.flag("v");
    let st = state.clone();
    let cid = c.id.clone();
    blocking(move || Ok(st.engine.remove(&cid, force, volumes)?)).await?;
    publish(&state, &c.id, |e| e.removed = true);
    status(StatusCode::NO_CONTENT)
}

async fn prune(state: Arc<State>) -> Reply {
    let st = state.clone();
    let deleted = blocking(move || {
        let mut out = Vec::new();
        for c in st.engine.list()? {
            if matches!(c.state.status, Status::Exited | Status::Created | Status::Dead) {
                st.engine.remove(&c.id, false, false)?;
                out.push(c.id);
            }
        }
        Ok(out)
    })
    .await?;
    json(StatusCode::OK, &json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}))
}

/// json-file entries → Docker's log stream (framed unless the container has a TTY).
async fn logs(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let (want_out, want_err) = (q.flag("stdout"), q.flag("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request("you must choose at least one stream"));
    }
    if c.log.driver == "none" {
        return Err(ApiError::bad_request("configured logging driver does not support reading"));
    }
    let follow = q.flag("follow");
    let timestamps = q.flag("timestamps");
    let tail = q.get("tail").filter(|t| *t != "all").and_then(|t| t.parse::<usize>().ok());
    let since = q.get("since").and_then(|s| s.split('.').next().and_then(|x| x.parse::<i64>().ok())).unwrap_or(0);
    let path = Container::log_path(state.engine.root(), &c.id);
    let tty = c.opts.tty;
    let (tx, body) = crate::body::channel();
    let st = state.clone();
    let cid = c.id.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Seek};
        let render = |line: &str| -> Option<bytes::Bytes> {
            let v: Value = serde_json::from_str(line).ok()?;
            let stream = v["stream"].as_str()?;
            if (stream == "stdout" && !want_out) || (stream == "stderr" && !want_err) {
                return None;
            }
            let time = v["time"].as_str().unwrap_or("");
            if since > 0 && unix_secs(Some(time)) < since {
                return None;
            }
            let mut text = String::new();
            if timestamps {
                text.push_str(time);
                text.push(' ');
            }
            text.push_str(v["log"].as_str().unwrap_or(""));
            let payload = text.into_bytes();
            Some(if tty {
                payload.into()
            } else {
                wharf_engine::monitor::frame(if stream == "stderr" { 2 } else { 1 }, &payload).into()
            })
        };
        let Ok(file) = std::fs::File::open(&path) else { return };
        let mut reader = std::io::BufReader::new(file);
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.ends_with('\n') {
                lines.push(std::mem::take(&mut line));
            }
        }
        let skip = tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
        for l in &lines[skip..] {
            if let Some(b) = render(l) {
                if tx.blocking_send(b).is_err() {
                    return;
                }
            }
        }
        if !follow {
            return;
        }
        // Follow: poll for appended lines until the container stops.
        let mut pos = reader.stream_position().unwrap_or(0);
        loop {
            let running = st
                .engine
                .get(&cid)
                .map(|c| matches!(c.state.status, Status::Running | Status::Paused | Status::Created))
                .unwrap_or(false);
            if let Ok(mut f) = std::fs::File::open(&path) {
                if f.seek(std::io::SeekFrom::Start(pos)).is_ok() {
                    let mut r = std::io::BufReader::new(f);
                    let mut l = String::new();
                    while r.read_line(&mut l).unwrap_or(0) > 0 && l.ends_with('\n') {
                        pos += l.len() as u64;
                        if let Some(b) = render(&l) {
                            if tx.blocking_send(b).is_err() {
                                return;
                            }
                        }
                        l.clear();
                    }
                }
            }
            if !running || tx.is_closed() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert(
        "Content-Type",
        if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" }
            .parse()
            .expect("static header"),
    );
    Ok(r)
}

/// `GET /containers/{id}/export`: the filesystem as a tar stream.
async fn export(state: Arc<State>, id: &str) -> Reply {
    let c = get(&state, id).await?;
    let (tx, body) = crate::body::channel();
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = st.engine.export(&c.id, crate::body::ChannelWriter(tx)) {
            tracing::warn!("export {}: {e}", c.id);
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/x-tar".parse().expect("static header"));
    Ok(r)
}

fn archive_path(q: &Query) -> Result<String, ApiError> {
    q.get("path").filter(|p| !p.is_empty()).map(str::to_string).ok_or_else(|| ApiError::bad_request("path is required"))
}

fn stat_header(stat: &wharf_engine::archive::PathStat) -> hyper::header::HeaderValue {
    use base64::Engine;
    let json = serde_json::to_vec(stat).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json).parse().expect("base64 is a valid header value")
}

/// `HEAD /containers/{id}/archive`: the path's stat in a header.
async fn archive_stat(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let path = archive_path(q)?;
    let (st, key) = (state.clone(), id.to_string());
    let stat = blocking(move || Ok(st.engine.stat_path(&key, &path)?)).await?;
    let mut r = status(StatusCode::OK)?;
    r.headers_mut().insert("X-Docker-Container-Path-Stat", stat_header(&stat));
    Ok(r)
}

/// `GET /containers/{id}/archive`: the path as a tar (docker cp out).
async fn archive_get(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let path = archive_path(q)?;
    let (st, key, p) = (state.clone(), id.to_string(), path.clone());
    // Stat first: a missing path is a 404, not a broken stream.
    let stat = blocking(move || Ok(st.engine.stat_path(&key, &p)?)).await?;
    let (tx, body) = crate::body::channel();
    let (st, key) = (state.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        if let Err(e) = st.engine.copy_out(&key, &path, crate::body::ChannelWriter(tx)) {
            tracing::warn!("copy from {key}:{path}: {e}");
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/x-tar".parse().expect("static header"));
    r.headers_mut().insert("X-Docker-Container-Path-Stat", stat_header(&stat));
    Ok(r)
}

/// `PUT /containers/{id}/archive`: extracts the body's tar into the directory `path`.
async fn archive_put(state: Arc<State>, req: Request<Incoming>, id: &str, q: &Query) -> Reply {
    let path = archive_path(q)?;
    get(&state, id).await?;
    let body = super::read_body(req).await?;
    let (st, key) = (state.clone(), id.to_string());
    blocking(move || Ok(st.engine.copy_in(&key, &path, &body[..])?)).await?;
    status(StatusCode::OK)
}

/// `POST /commit`: a container's changes as a new image.
pub async fn commit(state: Arc<State>, q: &Query) -> Reply {
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?
        .to_string();
    let reference = q.get("repo").filter(|r| !r.is_empty()).map(|r| match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{r}:{t}"),
        None => r.to_string(),
    });
    let req = wharf_engine::archive::CommitRequest {
        reference,
        comment: q.get("comment").map(str::to_string),
        author: q.get("author").map(str::to_string),
        changes: q.all("changes").into_iter().flat_map(|c| c.lines().map(str::to_string).collect::<Vec<_>>()).collect(),
        pause: q.get("pause").is_none_or(|p| matches!(p, "1" | "true" | "True")),
    };
    let st = state.clone();
    let id = blocking(move || Ok(st.engine.commit(&container, &req)?.id().to_string())).await?;
    json(StatusCode::CREATED, &json!({ "Id": id }))
}
