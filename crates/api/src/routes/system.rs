//! /_ping, /version, /info, /system/df, /events.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::json;

use super::{blocking, json, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

pub fn ping(method: &Method) -> Reply {
    let body = if method == Method::HEAD { crate::body::empty() } else { crate::body::full("OK") };
    let mut r = hyper::Response::new(body);
    let h = r.headers_mut();
    h.insert("Content-Type", "text/plain; charset=utf-8".parse().expect("static header"));
    h.insert("Builder-Version", "1".parse().expect("static header"));
    h.insert("Swarm", "inactive".parse().expect("static header"));
    h.insert("Docker-Experimental", "false".parse().expect("static header"));
    h.insert("Cache-Control", "no-cache, no-store, must-revalidate".parse().expect("static header"));
    Ok(r)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string()
}

pub fn version() -> Reply {
    json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "Wharf"},
            "Components": [{"Name": "Engine", "Version": env!("CARGO_PKG_VERSION"), "Details": {"ApiVersion": crate::API_VERSION, "MinAPIVersion": crate::MIN_API_VERSION, "Os": "linux", "Arch": "amd64", "KernelVersion": kernel()}}],
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": crate::API_VERSION,
            "MinAPIVersion": crate::MIN_API_VERSION,
            "GitCommit": "wharf",
            "GoVersion": "n/a (Rust)",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": kernel(),
            "BuildTime": "",
        }),
    )
}

pub async fn info(state: Arc<State>) -> Reply {
    let st = state.clone();
    let (containers, images) = blocking(move || {
        let c = st.engine.list().map_err(ApiError::from)?;
        let i = st.engine.images.disk_usage().map_err(ApiError::from)?;
        Ok((c, i.images))
    })
    .await?;
    let running = containers.iter().filter(|c| c.state.status == wharf_engine::Status::Running).count();
    let paused = containers.iter().filter(|c| c.state.status == wharf_engine::Status::Paused).count();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .unwrap_or(0)
        * 1024;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    json(
        StatusCode::OK,
        &json!({
            "ID": "WHARF",
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": containers.len() - running - paused,
            "Images": images,
            "Driver": wharf_engine::driver_of_snapshotter(state.engine.images.snapshotter_name()),
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "DockerRootDir": state.config.data_root,
            "Plugins": {"Volume": ["local"], "Network": ["none"], "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
            "IPv4Forwarding": false, "Debug": false, "NFd": 0, "NGoroutines": 0,
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if v2 { "2" } else { "1" },
            "KernelVersion": kernel(),
            "OperatingSystem": "Wharf on Linux",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem_total,
            "Name": hostname,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": runtimes(&state),
            "DefaultRuntime": state.engine.runtimes().default_name(),
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false},
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=no-new-privileges"],
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "Warnings": wharf_engine::security::host_warnings(),
        }),
    )
}

pub async fn df(state: Arc<State>) -> Reply {
    let st = state.clone();
    let (du, rows, containers, volumes) = blocking(move || {
        let containers = st.engine.list()?;
        let volumes: Vec<_> = st
            .engine
            .list_volumes()?
            .into_iter()
            .map(|v| {
                let users = st.engine.volume_users(&v.name).map(|u| u.len()).unwrap_or(0);
                (v.clone(), users, wharf_engine::volumes::disk_size(&v.mountpoint))
            })
            .collect();
        Ok((st.engine.images.disk_usage()?, st.engine.images.list()?, containers, volumes))
    })
    .await?;
    // One entry per image, with all its names (the store lists one row per name).
    let mut by_id: Vec<(&wharf_image::Digest, Vec<String>, u64)> = Vec::new();
    for r in &rows {
        let name = format!("{}:{}", r.repository, r.tag);
        match by_id.iter_mut().find(|(id, _, _)| *id == &r.id) {
            Some((_, names, _)) => names.push(name),
            None => by_id.push((&r.id, vec![name], r.size)),
        }
    }
    let images: Vec<_> = by_id
        .iter()
        .map(|(id, names, size)| {
            let users = containers.iter().filter(|c| c.image_id == id.to_string()).count();
            let names: Vec<&String> = names.iter().filter(|n| *n != "<none>:<none>").collect();
            json!({"Id": id.to_string(), "RepoTags": names, "Size": size, "SharedSize": 0, "Containers": users})
        })
        .collect();
    let sizes =
        super::changes::sizes(&state, containers.iter().map(|c| (c.id.clone(), c.image_id.clone())).collect()).await?;
    let containers: Vec<_> = containers
        .iter()
        .map(|c| {
            let (rw, rootfs) = sizes.get(&c.id).copied().unwrap_or_default();
            json!({"Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": c.image_id,
                "Command": "", "Created": super::unix_secs(Some(&c.created)), "State": c.state.status.to_string(),
                "Status": "", "SizeRw": rw, "SizeRootFs": rootfs, "Labels": c.labels})
        })
        .collect();
    let volumes: Vec<_> = volumes
        .iter()
        .map(|(v, users, size)| json!({"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint, "UsageData": {"Size": size, "RefCount": users}}))
        .collect();
    json(
        StatusCode::OK,
        &json!({"LayersSize": du.blob_bytes + du.snapshot_bytes, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": []}),
    )
}

/// Docker timestamps in queries: unix seconds with optional `.nanos`.
fn query_time(q: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(raw) = q.get(key).filter(|v| !v.is_empty()) else { return Ok(None) };
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, "0"));
    let bad = || ApiError::bad_request(format!("invalid {key} timestamp: {raw:?}"));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let frac = format!("{frac:0<9}");
    let nanos: i64 = frac.get(..9).ok_or_else(bad)?.parse().map_err(|_| bad())?;
    secs.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos)).map(Some).ok_or_else(bad)
}

/// `/events`: the journal's history from `since`, then live events until
/// `until` (or until the client goes away), filtered.
pub async fn events(state: Arc<State>, q: &Query) -> Reply {
    let filter = wharf_engine::events::Filter(q.filters()?);
    for key in filter.0.keys() {
        if !matches!(
            key.as_str(),
            "type" | "event" | "container" | "image" | "volume" | "network" | "label" | "daemon" | "scope"
        ) {
            return Err(ApiError::bad_request(format!("Invalid filter '{key}'")));
        }
    }
    let since = query_time(q, "since")?;
    let until = query_time(q, "until")?;
    let mut live = state.events.subscribe();
    let (tx, body) = crate::body::channel();
    let st = state.clone();
    tokio::spawn(async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let mut last = 0;
        if let Some(since) = since {
            let root = st.engine.root().to_path_buf();
            let past =
                tokio::task::spawn_blocking(move || wharf_engine::events::history(&root)).await.unwrap_or_default();
            for e in past.into_iter().filter(|e| e.time_nano >= since && until.is_none_or(|u| e.time_nano <= u)) {
                last = e.time_nano;
                if filter.matches(&e) && tx.send(line(&e)).await.is_err() {
                    return;
                }
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now) as u64));
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            tokio::select! {
                _ = tx.closed() => return,
                got = next => match got {
                    None | Some(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                    Some(Ok(e)) => {
                        if e.time_nano > last && filter.matches(&e) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    let mut r = hyper::Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

fn line(e: &wharf_engine::events::Event) -> bytes::Bytes {
    let mut v = serde_json::to_vec(e).unwrap_or_default();
    v.push(b'\n');
    v.into()
}

/// `/info`'s `Runtimes`: each name with its binary (the built-in one is this binary).
fn runtimes(state: &State) -> serde_json::Value {
    let rts = state.engine.runtimes();
    let mut out = serde_json::Map::new();
    for name in rts.names() {
        let spec = rts.get(name).expect("listed");
        let mut v = json!({"path": spec.path.clone().unwrap_or_else(|| state.config.monitor_exe.clone())});
        if !spec.args.is_empty() {
            v["runtimeArgs"] = json!(spec.args);
        }
        out.insert(name.to_string(), v);
    }
    serde_json::Value::Object(out)
}
