//! A container whose monitor was killed, and hostile image layers.
//!
//! Hostile layer tars are covered at the unit level by
//! `crates/image/src/unpack.rs` (`hostile_entries_are_refused_or_confined`:
//! `..` traversal, hard links out of the layer and to host files, writes
//! through symlinks, absolute paths; `whiteouts_become_overlay_form`);
//! tests/images.rs has no hostile-layer case, so the end-to-end one is here,
//! through `POST /images/load` in both archive shapes (plus a symlink loop).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::daemon::Daemon;
use crate::{all_ids, daemon, ping, request, timed, IMG};

/// Pids of processes whose argv has a `monitor` word and `id`.
pub fn monitors_of(id: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&&b"monitor"[..]) && args.contains(&id.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// The process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

#[test]
fn killed_monitor_does_not_leave_a_container_up() {
    let d = daemon();
    let id = d.ok(&["run", "-d", IMG, "sleep", "1000"]).trim().to_string();
    let pid: i32 = d.ok(&["inspect", "-f", "{{.State.Pid}}", &id]).trim().parse().unwrap();
    assert!(pid > 0 && alive(pid));
    let monitors = monitors_of(&id);
    assert_eq!(monitors.len(), 1, "one monitor for {id}: {monitors:?}");
    let monitor = nix::unistd::Pid::from_raw(monitors[0]);
    nix::sys::signal::kill(monitor, nix::sys::signal::Signal::SIGKILL).unwrap();
    support_eventually("the monitor to die", || !alive(monitors[0]));
    // The container's process is killed through the daemon, or from the host
    // if the daemon cannot reach it any more.
    let kill = timed(&d, 20, &["kill", &id]);
    assert!(!kill.timed_out(), "docker kill hung: {kill:?}");
    if alive(pid) {
        eprintln!("docker kill did not end the init ({kill:?}); killing pid {pid} from the host");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    support_eventually("the init to die", || !alive(pid));
    let wait = timed(&d, 20, &["wait", &id]);
    assert!(!wait.timed_out(), "docker wait did not return after the container died (monitor killed): {wait:?}");
    assert!(wait.ok() && wait.stdout.trim().parse::<i32>().is_ok(), "docker wait: {wait:?}");
    let ps = d.ok(&["ps", "-a", "--no-trunc", "--filter", &format!("id={id}"), "--format", "{{.Status}}"]);
    assert!(!ps.contains("Up"), "docker ps still says {ps:?} for a dead container");
    assert!(ping(&d.sock()));
}

/// An adopted container with a restart policy is restarted under a new
/// monitor, keeps its restart count and stays supervised.
#[test]
fn adopted_container_restarts_by_its_policy() {
    let d = daemon();
    let id = d.ok(&["run", "-d", "--restart", "always", IMG, "sleep", "1000"]).trim().to_string();
    let pid: i32 = d.ok(&["inspect", "-f", "{{.State.Pid}}", &id]).trim().parse().unwrap();
    let monitors = monitors_of(&id);
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitors[0]), nix::sys::signal::Signal::SIGKILL).unwrap();
    support_eventually("the monitor to die", || !alive(monitors[0]));
    // The container ends on its own (not through the daemon): the policy restarts it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    support_eventually("a restart under a new monitor", || {
        let state = d.ok(&["inspect", "-f", "{{.State.Running}} {{.State.Pid}} {{.RestartCount}}", &id]);
        let f: Vec<&str> = state.split_whitespace().collect();
        f.len() == 3 && f[0] == "true" && f[1] != pid.to_string() && f[1] != "0" && f[2] == "1"
    });
    assert_eq!(monitors_of(&id).len(), 1, "exactly one new monitor");
    // Still supervised: a stop ends it and `wait` answers.
    let stop = timed(&d, 30, &["stop", "-t", "1", &id]);
    assert!(stop.ok(), "{stop:?}");
    let wait = timed(&d, 20, &["wait", &id]);
    assert!(!wait.timed_out() && wait.ok(), "{wait:?}");
    assert!(ping(&d.sock()));
}

fn support_eventually(what: &str, f: impl FnMut() -> bool) {
    crate::support::eventually(what, f)
}

/// A tar header whose name and link name are written raw (the tar crate
/// refuses `..`, which is the point here).
fn raw_header(kind: tar::EntryType, name: &str, link: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_cksum();
    h
}

/// An image archive of `tag` with one layer holding `entries` (kind, name,
/// link target, content): Docker 20.10's shape (`manifest.json`,
/// `<id>/layer.tar`), or with `oci` Docker >=25's OCI layout.
fn image_archive(tag: &str, oci: bool, entries: &[(tar::EntryType, &str, &str, &str)]) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    for (kind, name, link, content) in entries {
        let h = raw_header(*kind, name, link, content.len() as u64);
        layer.append(&h, content.as_bytes()).unwrap();
    }
    let layer = layer.into_inner().unwrap();
    let sha = |data: &[u8]| format!("{:x}", Sha256::digest(data));
    let diff_id = sha(&layer);
    let config = json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    })
    .to_string();
    let config_id = sha(config.as_bytes());
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if oci {
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": format!("sha256:{config_id}"), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": format!("sha256:{diff_id}"), "size": layer.len()}],
        })
        .to_string();
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha(manifest.as_bytes())), "size": manifest.len(),
            "annotations": {"io.containerd.image.name": format!("docker.io/library/{tag}")},
        }]});
        files.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
        files.push(("index.json".into(), index.to_string().into_bytes()));
        files.push((format!("blobs/sha256/{}", sha(manifest.as_bytes())), manifest.into_bytes()));
        files.push((format!("blobs/sha256/{config_id}"), config.into_bytes()));
        files.push((format!("blobs/sha256/{diff_id}"), layer));
    } else {
        let manifest = json!([{
            "Config": format!("{config_id}.json"), "RepoTags": [tag], "Layers": [format!("{diff_id}/layer.tar")],
        }]);
        files.push((format!("{diff_id}/layer.tar"), layer));
        files.push((format!("{config_id}.json"), config.into_bytes()));
        files.push(("manifest.json".into(), manifest.to_string().into_bytes()));
    }
    let mut archive = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        archive.append_data(&mut h, path, &data[..]).unwrap();
    }
    archive.into_inner().unwrap()
}

/// Every path under `dir` (not following symlinks).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        }
        out.push(p);
    }
}

#[test]
fn hostile_layers_are_refused() {
    let d = daemon();
    let marker = format!("wharf-escape-{}", std::process::id());
    let to_root = format!("{}tmp/{marker}", "../".repeat(16));
    let near = format!("../../{marker}-near");
    let passwd = std::fs::metadata("/etc/passwd").unwrap();
    let cases = [
        (
            "traversal",
            vec![
                (tar::EntryType::Regular, to_root.as_str(), "", "pwned"),
                (tar::EntryType::Regular, near.as_str(), "", "pwned"),
            ],
        ),
        ("hard link to a host file", vec![(tar::EntryType::Link, "passwd-link", "/etc/passwd", "")]),
        (
            "hard link out of the layer",
            vec![(tar::EntryType::Link, "passwd-up", "../../../../../../../../etc/passwd", "")],
        ),
        (
            "symlink loop",
            vec![
                (tar::EntryType::Symlink, "loop-a", "loop-b", ""),
                (tar::EntryType::Symlink, "loop-b", "loop-a", ""),
                (tar::EntryType::Regular, "loop-a/x", "", "x"),
            ],
        ),
    ];
    for (i, (what, entries, oci)) in cases.iter().flat_map(|(w, e)| [(w, e, false), (w, e, true)]).enumerate() {
        let what = format!("{what} ({})", if oci { "OCI layout" } else { "Docker 20.10 archive" });
        let tag = format!("evil:{i}");
        let archive = image_archive(&tag, oci, entries);
        let (status, body) = request(&d.sock(), "POST", "/images/load?quiet=1", &archive, Duration::from_secs(60));
        eprintln!("{what}: load answered {status}: {body}");
        let refusal =
            |text: &str| text.contains("unsafe") || text.contains("leaves") || text.contains("not in this layer");
        // Every layer is unpacked at load, in both archive shapes: the load itself is refused.
        assert!(status == 200 || (400..500).contains(&status), "{what}: load answered {status}: {body}");
        assert!(body.contains("error") || status != 200, "{what}: loaded: {body}");
        assert!(refusal(&body), "{what}: unclear refusal: {body}");
        let images = d.ok(&["images", "-q", "--filter", &format!("reference={tag}")]);
        assert!(images.trim().is_empty(), "{what}: refused load left image {images}");
        // Nothing was written outside the layer.
        assert!(!Path::new("/tmp").join(&marker).exists(), "{what}: wrote /tmp/{marker}");
        let mut files = Vec::new();
        walk(d.dir.path(), &mut files);
        let stray: Vec<&PathBuf> =
            files.iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&marker))).collect();
        assert!(stray.is_empty(), "{what}: {stray:?}");
        let linked: Vec<&PathBuf> = files
            .iter()
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.dev() == passwd.dev() && m.ino() == passwd.ino()))
            .collect();
        assert!(linked.is_empty(), "{what}: hard links to the host's /etc/passwd: {linked:?}");
        assert_eq!(std::fs::metadata("/etc/passwd").unwrap().nlink(), passwd.nlink(), "{what}");
    }
    assert_eq!(all_ids(&d).trim(), "");
    assert!(ping(&d.sock()));
}

/// Fail closed: a daemon that sees no cgroup controllers (started under `ip
/// netns exec`, which remounts /sys) says so, and no container starts without
/// its device policy and limits.
#[test]
fn no_container_starts_without_cgroups() {
    let d = Daemon::start_without_cgroups();
    d.import_busybox();
    let (status, info) = d.http("GET", "/info", "");
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let warnings = info["Warnings"].to_string();
    assert!(warnings.contains("cgroup"), "no warning about the missing cgroups: {warnings}");
    let run = d.docker(&["run", "--rm", "busybox:local", "true"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "a container ran without cgroups");
    assert!(stderr.contains("cgroup"), "unclear refusal: {stderr}");
    let ps = d.ok(&["ps", "-q"]);
    assert!(ps.trim().is_empty(), "running: {ps}");
}
