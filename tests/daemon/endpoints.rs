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
    let script = "rm /bin/ls && mkdir /data && head -c 1000 /dev/zero > /data/f";
    d.ok(&["run", "--name", "c1", "--label", "keep=1", IMG, "sh", "-c", script]);
    // The engine's own mountpoints (/dev, /proc, /etc/hosts…) are not the container's changes.
    let diff = d.ok(&["diff", "c1"]);
    assert_eq!(diff.lines().collect::<Vec<_>>(), ["C /bin", "D /bin/ls", "A /data", "A /data/f"]);
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
