//! Names claimed under concurrency and create-time validation, through the API.

use std::sync::Barrier;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{all_ids, daemon, message, request, IMG};

const T: Duration = Duration::from_secs(30);

/// Containers (all states) whose names include `/name`.
fn named(sock: &std::path::Path, name: &str) -> usize {
    let (status, body) = request(sock, "GET", "/containers/json?all=1", b"", T);
    assert_eq!(status, 200, "{body}");
    let list: Vec<Value> = serde_json::from_str(&body).unwrap();
    let want = format!("/{name}");
    list.iter().filter(|c| c["Names"].as_array().is_some_and(|n| n.iter().any(|n| *n == want.as_str()))).count()
}

fn total(sock: &std::path::Path) -> usize {
    let (_, body) = request(sock, "GET", "/containers/json?all=1", b"", T);
    serde_json::from_str::<Vec<Value>>(&body).unwrap().len()
}

#[test]
fn names_are_unique_under_concurrency() {
    let d = daemon();
    let sock = d.sock();
    let body = json!({"Image": IMG, "Cmd": ["true"]}).to_string();
    let barrier = Barrier::new(10);
    let mut statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    request(&sock, "POST", "/containers/create?name=same", body.as_bytes(), T)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    statuses.sort();
    let codes: Vec<u16> = statuses.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409], "{statuses:?}");
    assert!(statuses[1].1.contains("already in use"), "{statuses:?}");
    assert_eq!(named(&sock, "same"), 1);
    assert_eq!(total(&sock), 1, "losers left records behind");
    d.ok(&["rm", "-f", "same"]);
    assert_eq!(named(&sock, "same"), 0);
    assert_eq!(total(&sock), 0);

    // Two containers renamed to one new name at once: one wins.
    for i in 0..3 {
        for n in ["a", "b"] {
            let name = format!("{n}{i}");
            let (status, resp) = request(&sock, "POST", &format!("/containers/create?name={name}"), body.as_bytes(), T);
            assert_eq!(status, 201, "{resp}");
        }
        let barrier = Barrier::new(2);
        let mut codes: Vec<u16> = std::thread::scope(|s| {
            let hs: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|n| {
                    let (sock, barrier) = (&sock, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        request(sock, "POST", &format!("/containers/{n}{i}/rename?name=new{i}"), b"", T).0
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        codes.sort();
        assert_eq!(codes, [204, 409], "rename race {i}");
        assert_eq!(named(&sock, &format!("new{i}")), 1, "rename race {i}");
        assert_eq!(named(&sock, &format!("a{i}")) + named(&sock, &format!("b{i}")), 1, "the loser keeps its name");
        assert_eq!(total(&sock), 2);
        d.ok(&["rm", "-f", &format!("new{i}"), &format!("a{i}"), &format!("b{i}")]);
    }
    assert_eq!(total(&sock), 0);
}

#[test]
fn invalid_requests_are_refused() {
    let d = daemon();
    let sock = d.sock();
    let table: Vec<(&str, Value, &str)> = vec![
        ("Memory 1024", json!({"HostConfig": {"Memory": 1024}}), "memory"),
        ("Memory -1", json!({"HostConfig": {"Memory": -1}}), "memory"),
        ("NanoCpus -1", json!({"HostConfig": {"NanoCpus": -1}}), "cpu"),
        ("PidsLimit -5", json!({"HostConfig": {"PidsLimit": -5}}), "pids"),
        ("CpuShares -1", json!({"HostConfig": {"CpuShares": -1}}), "cpu shares"),
        ("ShmSize -1", json!({"HostConfig": {"ShmSize": -1}}), "shm"),
        (
            "Ulimits soft>hard",
            json!({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 2048, "Hard": 1024}]}}),
            "nofile",
        ),
        ("Hostname 65", json!({"Hostname": "h".repeat(65)}), "hostname"),
        ("CpusetCpus 4096", json!({"HostConfig": {"CpusetCpus": "4096"}}), "4096"),
        ("Sysctls kernel.hostname", json!({"HostConfig": {"Sysctls": {"kernel.hostname": "x"}}}), "kernel.hostname"),
        (
            "Sysctls net.* on the host network",
            json!({"HostConfig": {"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}}}),
            "net.ipv4.ip_forward",
        ),
    ];
    for (i, (what, mut body, needle)) in table.into_iter().enumerate() {
        body["Image"] = json!(IMG);
        body["Cmd"] = json!(["true"]);
        let (status, resp) =
            request(&sock, "POST", &format!("/containers/create?name=bad{i}"), body.to_string().as_bytes(), T);
        assert_eq!(status, 400, "{what}: {resp}");
        let msg = message(&resp);
        assert!(msg.to_lowercase().contains(needle), "{what}: message {msg:?} does not mention {needle:?}");
        assert_eq!(total(&sock), 0, "{what}: a container was created");
    }
    // A namespaced sysctl on a container's own network namespace is applied.
    assert_eq!(
        d.ok(&["run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", IMG, "cat", "/proc/sys/net/ipv4/ip_forward"]),
        "1\n"
    );
    // API version bounds.
    let (status, resp) = request(&sock, "GET", "/v1.99/info", b"", T);
    assert_eq!(status, 400, "{resp}");
    assert!(message(&resp).contains("client version 1.99 is too new"), "{resp}");
    let (status, resp) = request(&sock, "GET", "/v1.12/info", b"", T);
    assert_eq!(status, 400, "{resp}");
    assert!(message(&resp).contains("too old"), "{resp}");
    // Bad filters.
    let (status, resp) =
        request(&sock, "GET", "/containers/json?filters=%7B%22status%22%3A%5B%22bogus%22%5D%7D", b"", T);
    assert_eq!(status, 400, "{resp}");
    assert!(message(&resp).contains("Invalid filter"), "{resp}");

    // start racing rm -f: never a 500, and the container is gone afterwards.
    let body = json!({"Image": IMG, "Cmd": ["sleep", "1000"]}).to_string();
    for i in 0..5 {
        let (status, resp) = request(&sock, "POST", &format!("/containers/create?name=race{i}"), body.as_bytes(), T);
        assert_eq!(status, 201, "{resp}");
        let id = serde_json::from_str::<Value>(&resp).unwrap()["Id"].as_str().unwrap().to_string();
        let barrier = Barrier::new(2);
        let (start, rm) = std::thread::scope(|s| {
            let start = s.spawn(|| {
                barrier.wait();
                request(&sock, "POST", &format!("/containers/{id}/start"), b"", T)
            });
            let rm = s.spawn(|| {
                barrier.wait();
                request(&sock, "DELETE", &format!("/containers/{id}?force=1"), b"", T)
            });
            (start.join().unwrap(), rm.join().unwrap())
        });
        assert!(matches!(start.0, 204 | 304 | 404), "iteration {i}: start {start:?} (rm {rm:?})");
        assert!(matches!(rm.0, 204 | 404), "iteration {i}: rm {rm:?} (start {start:?})");
        let (status, _) = request(&sock, "GET", &format!("/containers/{id}/json"), b"", T);
        assert_eq!(status, 404, "iteration {i}: container survived rm -f (start {start:?}, rm {rm:?})");
        // A monitor that lost the race finds the record gone and tears its container down.
        crate::support::eventually(&format!("iteration {i}: monitor gone (start {start:?}, rm {rm:?})"), || {
            crate::lifecycle::monitors_of(&id).is_empty()
        });
        let orphans = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(&id)))
            .count();
        assert_eq!(orphans, 0, "iteration {i}: processes left in the container's cgroup");
    }
    assert_eq!(all_ids(&d).trim(), "");
}
