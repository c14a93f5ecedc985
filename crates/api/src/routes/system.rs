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
            "Components": [{"Name": "Engine", "Version": env!("CARGO_PKG_VERSION"), "Details": {"ApiVersion": crate::API_VERSION, "MinAPIVersion": crate::MIN_API_VERSION, "Os": "linux", "Arch": "amd64", "KernelVersion": kernel(), "BuildTime": "", "Experimental": "false", "GitCommit": "wharf", "GoVersion": "n/a (Rust)"}}],
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
    let (containers, images, host) = blocking(move || {
        let c = st.engine.list().map_err(ApiError::from)?;
        let i = st.engine.images.disk_usage().map_err(ApiError::from)?;
        let h = wharf_engine::hostinfo::gather(st.engine.root())?;
        Ok((c, i.images, h))
    })
    .await?;
    let running = containers.iter().filter(|c| c.state.status == wharf_engine::Status::Running).count();
    let paused = containers.iter().filter(|c| c.state.status == wharf_engine::Status::Paused).count();
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .unwrap_or(0)
        * 1024;
    let hostname = hostname();
    let driver = wharf_engine::driver_of_snapshotter(state.engine.images.snapshotter_name());
    let driver_status = match driver {
        "overlay2" => json!([
            ["Backing Filesystem", host.backing_fs],
            ["Supports d_type", "true"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"]
        ]),
        _ => json!([]),
    };
    let mut security = vec!["name=seccomp,profile=builtin".to_string(), "name=no-new-privileges".to_string()];
    if host.cgroup_v2 {
        security.push("name=cgroupns".into());
    }
    let env = |k: &str| std::env::var(k).or_else(|_| std::env::var(k.to_ascii_lowercase())).unwrap_or_default();
    let cidrs: Vec<&String> = state.config.insecure_registries.iter().filter(|r| r.contains('/')).collect();
    let mut index_configs = serde_json::Map::new();
    index_configs
        .insert("docker.io".into(), json!({"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}));
    for r in state.config.insecure_registries.iter().filter(|r| !r.contains('/')) {
        index_configs.insert(r.clone(), json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}));
    }
    let mut cidr_list: Vec<String> = vec!["127.0.0.0/8".into()];
    cidr_list.extend(cidrs.into_iter().cloned());
    let facts = json!({
        "MemoryLimit": host.memory_limit, "SwapLimit": host.swap_limit, "KernelMemory": false, "KernelMemoryTCP": false,
        "CpuCfsPeriod": host.cpu_cfs, "CpuCfsQuota": host.cpu_cfs, "CPUShares": host.cpu_shares, "CPUSet": host.cpuset,
        "PidsLimit": host.pids_limit, "OomKillDisable": host.oom_kill_disable, "IPv4Forwarding": host.ipv4_forwarding,
        "BridgeNfIptables": host.bridge_nf_iptables, "BridgeNfIp6tables": host.bridge_nf_ip6tables,
        "Debug": tracing::enabled!(tracing::Level::DEBUG), "NFd": host.fds, "NGoroutines": host.threads,
        "SystemTime": wharf_common::time::now(), "NEventsListener": state.events.receiver_count(),
        "OSVersion": host.os_version, "IndexServerAddress": "https://index.docker.io/v1/", "GenericResources": null,
        "HttpProxy": env("HTTP_PROXY"), "HttpsProxy": env("HTTPS_PROXY"), "NoProxy": env("NO_PROXY"),
        "Labels": [], "ExperimentalBuild": false,
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""}, "InitCommit": {"ID": "", "Expected": ""},
    });
    let mut v = json!({
        "ID": host.id,
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": images,
        "Driver": driver,
        "DriverStatus": driver_status,
        "DockerRootDir": state.config.data_root,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file", "local"]},
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if host.cgroup_v2 { "2" } else { "1" },
        "KernelVersion": kernel(),
        "OperatingSystem": host.os_name,
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total,
        "Name": hostname,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": runtimes(&state),
        "DefaultRuntime": state.engine.runtimes().default_name(),
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "SecurityOptions": security,
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
                           "InsecureRegistryCIDRs": cidr_list, "IndexConfigs": index_configs, "Mirrors": []},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "Warnings": wharf_engine::security::host_warnings(),
    });
    for (k, x) in facts.as_object().into_iter().flatten() {
        v[k] = x.clone();
    }
    json(StatusCode::OK, &v)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
}

pub async fn df(state: Arc<State>) -> Reply {
    let st = state.clone();
    let (du, images, containers, volumes, nets) = blocking(move || {
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
        // One entry per image with all its names (the store lists a row per name).
        let mut images: Vec<(wharf_image::Image, Vec<String>)> = Vec::new();
        for r in st.engine.images.list()? {
            let name = (r.repository != "<none>").then(|| format!("{}:{}", r.repository, r.tag));
            match images.iter_mut().find(|(img, _)| img.config_digest == r.id) {
                Some((_, names)) => names.extend(name),
                None => {
                    if let Ok((_, img)) = st.engine.images.resolve(&r.id.to_string()) {
                        images.push((img, name.into_iter().collect()));
                    }
                }
            }
        }
        Ok((st.engine.images.disk_usage()?, images, containers, volumes, st.engine.networks().ok()))
    })
    .await?;
    // Docker's SharedSize: the layers an image has in common with another.
    let mut layer_users: std::collections::HashMap<&wharf_image::Digest, usize> = Default::default();
    for (img, _) in &images {
        for l in &img.manifest.layers {
            *layer_users.entry(&l.digest).or_default() += 1;
        }
    }
    let images: Vec<_> = images
        .iter()
        .map(|(img, names)| {
            let id = img.id().to_string();
            let users = containers.iter().filter(|c| c.image_id == id).count();
            let shared: u64 = img.manifest.layers.iter().filter(|l| layer_users[&l.digest] > 1).map(|l| l.size).sum();
            let labels = img.config.config.as_ref().and_then(|c| c.labels.clone());
            json!({"Id": id, "ParentId": "", "RepoTags": names, "RepoDigests": [],
                "Created": super::unix_secs(img.config.created.as_deref()), "Size": img.size(), "SharedSize": shared,
                "VirtualSize": img.size(), "Labels": labels, "Containers": users})
        })
        .collect();
    let sizes =
        super::changes::sizes(&state, containers.iter().map(|c| (c.id.clone(), c.image_id.clone())).collect()).await?;
    let containers = containers
        .iter()
        .map(|c| {
            let (rw, rootfs) = sizes.get(&c.id).copied().unwrap_or_default();
            let mut v = super::containers::summary(&state, c, &nets)?;
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rootfs);
            Ok(v)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let volumes: Vec<_> = volumes
        .iter()
        .map(|(v, users, size)| {
            json!({"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint, "CreatedAt": v.created_at,
            "Labels": v.labels, "Scope": v.scope, "Options": null, "UsageData": {"Size": size, "RefCount": users}})
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({"LayersSize": du.blob_bytes + du.snapshot_bytes, "Images": images, "Containers": containers, "Volumes": volumes,
            // The classic builder's cache is its images (counted above), as dockerd's.
            "BuildCache": [], "BuilderSize": 0}),
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
