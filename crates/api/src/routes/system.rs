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
            "Driver": "overlay2",
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
            "Runtimes": {"wharf": {"path": state.config.monitor_exe}},
            "DefaultRuntime": "wharf",
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "Warnings": [],
        }),
    )
}

pub async fn df(state: Arc<State>) -> Reply {
    let st = state.clone();
    let (du, rows) = blocking(move || Ok((st.engine.images.disk_usage()?, st.engine.images.list()?))).await?;
    let images: Vec<_> = rows
        .iter()
        .map(|r| json!({"Id": r.id.to_string(), "RepoTags": [format!("{}:{}", r.repository, r.tag)], "Size": r.size, "SharedSize": 0, "Containers": 0}))
        .collect();
    json(
        StatusCode::OK,
        &json!({"LayersSize": du.blob_bytes + du.snapshot_bytes, "Images": images, "Containers": [], "Volumes": [], "BuildCache": []}),
    )
}

/// `/events`: until the event bus exists, a stream that stays open and empty
/// (what the CLI expects from an idle daemon), ended by `until` if given.
pub async fn events(_state: Arc<State>, q: &Query) -> Reply {
    let (tx, body) = crate::body::channel();
    let until = q.get("until").and_then(|u| u.parse::<i64>().ok());
    tokio::spawn(async move {
        match until {
            Some(_) => drop(tx),
            None => {
                tx.closed().await;
            }
        }
    });
    let mut r = hyper::Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}
