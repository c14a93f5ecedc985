//! Engine API endpoints Docker has and Wharf had not (issue 11): container
//! changes and sizes, prune filters, live updates, distribution inspect,
//! build cache prune — each checked against what dockerd 20.10 answers.

use serde_json::Value;

use super::support::daemon::Daemon;

const IMG: &str = "busybox:local";

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox();
    d
}

fn get_json(d: &Daemon, method: &str, path: &str) -> (u16, Value) {
    let (status, text) = d.http(method, path, "");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")))
}

fn filters(f: &str) -> String {
    f.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[test]
fn changes_sizes_and_prune_filters() {
    let d = daemon();
    let script = "rm /bin/ls && mkdir /chg && head -c 1000 /dev/zero > /chg/f";
    d.ok(&["run", "--name", "c1", "--label", "keep=1", IMG, "sh", "-c", script]);
    // The engine's own mountpoints (/dev, /proc, /etc/hosts…) are not the container's changes.
    let diff = d.ok(&["diff", "c1"]);
    assert_eq!(diff.lines().collect::<Vec<_>>(), ["C /bin", "D /bin/ls", "A /chg", "A /chg/f"]);
    d.ok(&["create", "--name", "c2", IMG, "true"]);
    let (status, text) = d.http("GET", "/containers/c2/changes", "");
    assert_eq!((status, text.trim()), (200, "null"), "a container never started changed nothing");
    assert_eq!(d.http("GET", "/containers/nosuch/changes", "").0, 404);

    let (_, v) = get_json(&d, "GET", "/containers/c1/json?size=1");
    assert_eq!(v["SizeRw"], 1000);
    assert!(v["SizeRootFs"].as_u64().unwrap() > 1000);
    let (_, v) = get_json(&d, "GET", "/containers/c1/json");
    assert!(v.get("SizeRw").is_none(), "sizes only when asked");
    let (_, list) = get_json(&d, "GET", "/containers/json?all=1&size=1");
    let c1 = list.as_array().unwrap().iter().find(|c| c["Names"][0] == "/c1").unwrap();
    assert_eq!(c1["SizeRw"], 1000);

    // Prune filters: label! spares c1; until in the past spares both.
    let (status, v) = get_json(&d, "POST", &format!("/containers/prune?filters={}", filters(r#"{"until":["1h"]}"#)));
    assert_eq!((status, &v["ContainersDeleted"]), (200, &Value::Array(vec![])), "{v}");
    let (_, v) = get_json(&d, "POST", &format!("/containers/prune?filters={}", filters(r#"{"label!":["keep"]}"#)));
    assert_eq!(v["ContainersDeleted"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["SpaceReclaimed"], 0);
    let (_, v) = get_json(&d, "POST", "/containers/prune");
    assert_eq!(v["ContainersDeleted"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["SpaceReclaimed"], 1000, "{v}");
    let (status, v) = get_json(&d, "POST", &format!("/containers/prune?filters={}", filters(r#"{"dangling":["1"]}"#)));
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("dangling"));
}

/// The container's memory limit as its own cgroup shows it (v2 or v1).
const MEM_LIMIT: &str = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";

#[test]
fn update_applies_limits_live_and_records_them() {
    let d = daemon();
    d.ok(&["run", "-d", "--name", "u", "-m", "64m", IMG, "sleep", "1000"]);
    d.ok(&["update", "--memory", "128m", "--memory-swap", "256m", "--cpu-shares", "300", "--pids-limit", "40", "u"]);
    assert_eq!(d.ok(&["exec", "u", "sh", "-c", MEM_LIMIT]).trim(), (128u64 << 20).to_string());
    let v = d.ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}", "u"]);
    assert_eq!(v.trim(), format!("{} 300 40", 128u64 << 20));
    // Docker's conflicts and unknown fields are refused, and change nothing.
    let out = d.docker(&["update", "--memory", "300m", "u"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("memoryswap"), "{out:?}");
    let (status, text) = d.http("POST", "/containers/u/update", r#"{"KernelMemory": 1048576}"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("KernelMemory"));
    assert_eq!(d.ok(&["exec", "u", "sh", "-c", MEM_LIMIT]).trim(), (128u64 << 20).to_string());
    assert_eq!(d.http("POST", "/containers/nosuch/update", "{}").0, 404);

    // A stopped container's update is what its next start uses.
    d.ok(&["create", "--name", "s", IMG, "sh", "-c", MEM_LIMIT]);
    d.ok(&["update", "--memory", "96m", "s"]);
    assert_eq!(d.ok(&["start", "-a", "s"]).trim(), (96u64 << 20).to_string());

    // A restart policy given by update is the one the monitor applies.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        IMG,
        "sh",
        "-c",
        "test -e /restarted || { touch /restarted; until test -e /go; do sleep 0.05; done; }; exit 3",
    ]);
    d.ok(&["update", "--restart", "on-failure:1", "r"]);
    let (_, v) = get_json(&d, "GET", "/containers/r/json");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    d.ok(&["exec", "r", "touch", "/go"]);
    // First exit (3) is restarted once; the second ends it.
    d.ok(&["wait", "r"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, v) = get_json(&d, "GET", "/containers/r/json");
        if v["RestartCount"] == 1 && v["State"]["Status"] == "exited" {
            assert_eq!(v["State"]["ExitCode"], 3);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not restarted once: {v}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = d.docker(&["run", "-d", "--rm", "--name", "ar", IMG, "sleep", "1000"]);
    assert!(out.status.success());
    let out = d.docker(&["update", "--restart", "always", "ar"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("AutoRemove"), "{out:?}");
}

/// `GET /distribution/{name}/json` asks the registry (a loopback one in the
/// daemon's namespace) without pulling: the manifest's descriptor, the platforms.
#[test]
fn distribution_inspect_asks_the_registry() {
    let d = daemon();
    let reg = super::support::Registry::start_in(Some(&d.netns), None);
    let name = format!("{}/dist/busybox:1", reg.host());
    d.ok(&["tag", IMG, &name]);
    d.ok(&["push", &name]);
    let digest = d.ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &name]);
    let digest = digest.trim().rsplit('@').next().unwrap().to_string();
    let (status, v) = get_json(&d, "GET", &format!("/distribution/{name}/json"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Descriptor"]["digest"], digest.as_str());
    assert!(v["Descriptor"]["mediaType"].as_str().unwrap().contains("manifest"), "{v}");
    assert!(v["Descriptor"]["size"].as_u64().unwrap() > 0);
    let host = if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH };
    assert_eq!(v["Platforms"][0]["architecture"], host, "{v}");
    assert_eq!(v["Platforms"][0]["os"], "linux");
    assert_eq!(d.ok(&["images", "-q", "--filter", "reference=*/dist/*:2"]).trim(), "", "nothing pulled");
    let (status, v) = get_json(&d, "GET", &format!("/distribution/{}/dist/nosuch:1/json", reg.host()));
    assert!(status == 404 || status == 401, "{status} {v}");
    assert!(v["message"].is_string());
}

/// `POST /build/prune` (`docker builder prune`): the classic cache's
/// entries and the untagged step images only they kept; the next build runs
/// every step again.
#[test]
fn build_prune_drops_the_cache() {
    let d = daemon();
    let file = "FROM busybox:local\nRUN echo a > /a\nRUN echo b > /b\n";
    let (status, _, raw) = super::builds::build(&d, file, "t=cached:1");
    assert_eq!(status, 200, "{raw}");
    let (_, _, raw) = super::builds::build(&d, file, "t=cached:1");
    assert!(raw.contains("Using cache"), "{raw}");
    let (status, v) = get_json(&d, "POST", &format!("/build/prune?filters={}", filters(r#"{"until":["1h"]}"#)));
    assert_eq!((status, v["CachesDeleted"].as_array().map(Vec::len)), (200, Some(0)), "entries are newer: {v}");
    let (status, v) = get_json(&d, "POST", "/build/prune");
    assert_eq!(status, 200, "{v}");
    assert!(v["CachesDeleted"].as_array().unwrap().len() >= 2, "{v}");
    assert!(v["SpaceReclaimed"].as_u64().unwrap() > 0, "the first RUN's image was only the cache's: {v}");
    d.ok(&["image", "inspect", "cached:1"]);
    let (_, _, raw) = super::builds::build(&d, file, "t=cached:1");
    assert!(!raw.contains("Using cache"), "{raw}");
    let (status, _) = get_json(&d, "POST", &format!("/build/prune?filters={}", filters(r#"{"type":["regular"]}"#)));
    assert_eq!(status, 400);
    let out = d.docker(&["builder", "prune", "-f"]);
    assert!(out.status.success(), "{out:?}");
}
