//! /containers/…: create, list, inspect, start, wait, attach (hijacked),
//! stop, kill, restart, remove, logs, resize.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use wharf_engine::logs::{Entry, ReadOptions, Stream as LogStream};
use wharf_engine::protocol::{self, Kind};
use wharf_engine::supervise::WaitCondition;
use wharf_engine::{Container, Status};

use super::{blocking, json, status, unix_secs, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

pub async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, seg: &[&str], q: &Query) -> Reply {
    match (method, &seg[1..]) {
        (&Method::GET, ["json"]) => list(state, q).await,
        (&Method::POST, ["create"]) => super::create::create(state, req, q).await,
        (&Method::POST, ["prune"]) => prune(state, q).await,
        (&Method::GET, [id, "json"]) => super::inspect::inspect(state, id, q).await,
        (&Method::POST, [id, "start"]) => start(state, id).await,
        (&Method::POST, [id, "wait"]) => wait(state, id, q).await,
        (&Method::POST, [id, "attach"]) => super::attach::attach(state, req, id, q).await,
        (&Method::POST, [id, "stop"]) => stop(state, id, q).await,
        (&Method::POST, [id, "restart"]) => restart(state, id, q).await,
        (&Method::POST, [id, "kill"]) => kill(state, id, q).await,
        (&Method::DELETE, [id]) if q.flag("link") => remove_link(&state, &[id]).await,
        (&Method::DELETE, [parent, alias]) if q.flag("link") => remove_link(&state, &[parent, alias]).await,
        (&Method::DELETE, [id]) => remove(state, id, q).await,
        (&Method::GET, [id, "logs"]) => logs(state, id, q).await,
        (&Method::GET, [id, "export"]) => export(state, id).await,
        (&Method::GET, [id, "changes"]) => super::changes::changes(state, id).await,
        (&Method::POST, [id, "update"]) => super::update::update(state, req, id).await,
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
            let (h, w) = (q.dimension("h")?, q.dimension("w")?);
            state.sup.resize(id, h, w).await?;
            status(StatusCode::OK)
        }
        _ => Err(ApiError::not_found(format!("page not found: {method} /{}", seg.join("/")))),
    }
}

pub(super) async fn get(state: &Arc<State>, id: &str) -> Result<Container, ApiError> {
    Ok(state.sup.get(id).await?)
}

/// "3 minutes" (Docker's HumanDuration of the time since).
fn ago(rfc3339: Option<&str>) -> String {
    let t = rfc3339.and_then(wharf_common::time::parse_rfc3339).unwrap_or_else(std::time::SystemTime::now);
    wharf_common::time::human_duration(std::time::SystemTime::now().duration_since(t).unwrap_or_default())
}

pub(super) fn status_text(c: &Container, root: &std::path::Path) -> String {
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

pub(super) fn command_of(c: &Container) -> String {
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
    let sizes = match q.flag("size") {
        true => {
            let ids = containers.iter().filter(|c| keep(c)).map(|c| (c.id.clone(), c.image_id.clone())).collect();
            Some(super::changes::sizes(&state, ids).await?)
        }
        false => None,
    };
    // Docker: a status filter (or a limit) shows stopped containers too.
    let all = all || filters.contains_key("status") || filters.contains_key("exited") || limit.is_some();
    let out: Vec<Value> = containers
        .iter()
        .filter(|c| all || matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting))
        .filter(|c| keep(c))
        .take(limit.unwrap_or(usize::MAX))
        .map(|c| {
            let mut v = summary(&state, c, &nets)?;
            if let Some((rw, rootfs)) = sizes.as_ref().and_then(|s| s.get(&c.id)) {
                v["SizeRw"] = json!(rw);
                v["SizeRootFs"] = json!(rootfs);
            }
            Ok(v)
        })
        .collect::<Result<_, ApiError>>()?;
    json(StatusCode::OK, &out)
}

/// A container as `GET /containers/json` (and `system df`) list it.
pub(super) fn summary(state: &State, c: &Container, nets: &Option<wharf_network::Networks>) -> Result<Value, ApiError> {
    Ok(json!({
        "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": c.image_id,
        "Command": command_of(c), "Created": unix_secs(Some(&c.created)), "Ports": port_list(c), "Labels": c.labels,
        "State": c.state.status.to_string(), "Status": status_text(c, state.engine.root()),
        "HostConfig": {"NetworkMode": super::inspect::network_mode(c)},
        "NetworkSettings": {"Networks": super::inspect::network_settings(nets, c)?["Networks"]},
        "Mounts": super::inspect::mounts(state, c),
    }))
}

async fn start(state: Arc<State>, id: &str) -> Reply {
    let started = state.sup.start(id).await?;
    status(if started { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

/// Headers go out at once (the CLI starts the container only after it has
/// them); the JSON body follows when the condition is met.
async fn wait(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let condition = match q.get("condition").unwrap_or("not-running") {
        "not-running" | "" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => return Err(ApiError::bad_request(format!("invalid condition: {other:?}"))),
    };
    let done = state.sup.wait(id, condition).await?;
    let (tx, body) = crate::body::channel();
    tokio::spawn(async move {
        let msg = match done.await {
            Some(code) => json!({"StatusCode": code, "Error": null}),
            None => json!({"StatusCode": -1, "Error": {"Message": "wait interrupted"}}),
        };
        let _ = tx.send(format!("{msg}\n").into()).await;
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

pub fn parse_signal(s: Option<&str>, default: i32) -> Result<i32, ApiError> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => wharf_runtime::process::parse_signal(s).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// A sample in Docker's shape; `previous` is the sample before (for CPU %).
fn stats_json(c: &Container, s: &wharf_engine::stats::Sample, previous: &Value) -> Value {
    json!({
        "read": wharf_common::time::rfc3339(s.read),
        "preread": previous.get("read").cloned().unwrap_or(json!("0001-01-01T00:00:00Z")),
        "id": c.id, "name": format!("/{}", c.name),
        "pids_stats": {"current": s.pids},
        "cpu_stats": {"cpu_usage": {"total_usage": s.cpu_total_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                      "system_cpu_usage": s.system_cpu_ns, "online_cpus": s.online_cpus, "throttling_data": {}},
        "precpu_stats": previous.get("cpu_stats").cloned().unwrap_or(json!({"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": s.online_cpus})),
        "memory_stats": {"usage": s.memory_usage, "limit": s.memory_limit, "stats": {}},
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
            if let Ok(first) = state.sup.stats(&c.id).await {
                previous = stats_json(&c, &first, &json!({}));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        loop {
            let Ok(s) = state.sup.stats(&c.id).await else { break };
            let sample = stats_json(&c, &s, &previous);
            if tx.send(format!("{sample}\n").into()).await.is_err() || !stream {
                break;
            }
            previous = sample;
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !state.sup.get(&c.id).await.is_ok_and(|c| matches!(c.state.status, Status::Running | Status::Paused)) {
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
    state.sup.kill(id, sig).await?;
    status(StatusCode::NO_CONTENT)
}

/// `t` and `signal` of stop and restart (absent: the container's own).
fn stop_args(q: &Query) -> Result<(Option<u64>, Option<i32>), ApiError> {
    let t = match q.get("t").filter(|t| !t.is_empty()) {
        Some(t) => Some(t.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid stop timeout {t:?}")))?),
        None => None,
    };
    let signal = match q.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_signal(Some(s), 15)?),
        None => None,
    };
    Ok((t, signal))
}

async fn stop(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let (t, signal) = stop_args(q)?;
    let stopped = state.sup.stop(id, t, signal).await?;
    status(if stopped { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

async fn restart(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let (t, signal) = stop_args(q)?;
    state.sup.restart(id, t, signal).await?;
    status(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{parent}/{alias}?link=1` (`docker rm --link`):
/// legacy links are refused at create, so there is never one to remove;
/// a container's own name is not a link (dockerd's answers, and nothing
/// is removed).
async fn remove_link(state: &Arc<State>, name: &[&str]) -> Reply {
    match name {
        [id] => {
            get(state, id).await?;
            Err(ApiError::conflict("Conflict, cannot remove the default link name of the container"))
        }
        _ => {
            let link = format!("/{}", name.join("/"));
            get(state, name[0]).await?;
            Err(ApiError::not_found(format!("Cannot remove link {link}: no such link (Wharf makes no legacy links)")))
        }
    }
}

async fn remove(state: Arc<State>, id: &str, q: &Query) -> Reply {
    state.sup.remove(id, q.flag("force"), q.flag("v")).await?;
    status(StatusCode::NO_CONTENT)
}

async fn prune(state: Arc<State>, q: &Query) -> Reply {
    let f = super::prune::PruneFilter::parse(q, true, &[])?;
    let (deleted, bytes) = state.sup.prune(move |c| f.selects(&c.labels, Some(&c.created))).await?;
    json(StatusCode::OK, &json!({"ContainersDeleted": deleted, "SpaceReclaimed": bytes}))
}

/// Log entries → Docker's log stream (framed unless the container has a TTY).
async fn logs(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = get(&state, id).await?;
    let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request("you must choose at least one stream"));
    }
    let time = |k: &str| -> Result<Option<std::time::SystemTime>, ApiError> {
        match q.get(k).filter(|s| !s.is_empty() && *s != "0") {
            None => Ok(None),
            Some(s) => crate::query::timestamp(s)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}: {s:?}"))),
        }
    };
    let opts = ReadOptions {
        stdout,
        stderr,
        since: time("since")?,
        until: time("until")?,
        tail: match q.get("tail").filter(|t| !t.is_empty() && *t != "all") {
            None => None,
            Some(t) => Some(t.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid tail {t:?}")))?),
        },
    };
    let (follow, timestamps, tty) = (q.flag("follow"), q.flag("timestamps"), c.opts.tty);
    // `details`: each entry's attributes (the `labels`/`env` log options) before the line, as Docker's.
    let details = q.flag("details");
    if c.log_path(state.engine.root()).is_none() {
        return Err(ApiError::from(wharf_engine::EngineError::LogsUnsupported(c.log.driver.clone())));
    }
    let (tx, body) = crate::body::channel();
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = |e: Entry| -> bool {
            let mut payload = Vec::with_capacity(e.line.len() + 32);
            if timestamps {
                payload.extend_from_slice(wharf_common::time::rfc3339(e.time).as_bytes());
                payload.push(b' ');
            }
            if details {
                let attrs: Vec<String> = e
                    .attrs
                    .iter()
                    .map(|(k, v)| format!("{}={}", wharf_common::percent::encode(k), wharf_common::percent::encode(v)))
                    .collect();
                payload.extend_from_slice(attrs.join(",").as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(&e.line);
            let kind = if e.stream == LogStream::Stderr { Kind::Stderr } else { Kind::Stdout };
            let bytes = if tty { payload } else { protocol::encode(kind, &payload) };
            tx.blocking_send(bytes.into()).is_ok()
        };
        if let Err(e) = engine.logs(&c.id, &opts, follow, &mut sink) {
            tracing::warn!("logs of {}: {e}", c.id);
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
    let body = crate::body::reader(req.into_body());
    let (st, key) = (state.clone(), id.to_string());
    blocking(move || Ok(st.engine.copy_in(&key, &path, body)?)).await?;
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
