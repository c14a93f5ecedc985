//! OCI runtime-spec conformance: poststart failures, inherited and joined
//! mount namespaces.

use serde_json::json;
use std::process::Command;

use super::support::{self, eventually, Env};
use super::unique;

/// OCI: "If a poststart hook fails, the runtime MUST log a warning, but the
/// remaining hooks and lifecycle continue."
#[test]
fn failing_poststart_hook_warns_and_container_keeps_running() {
    let env = Env::new();
    let marker = env.dir.path().join("second-hook-ran");
    let hooks = json!({"poststart": [
        {"path": "/bin/false"},
        {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", marker.display())]},
    ]});
    let id = unique("poststart");
    let b = env.bundle("b", &["sleep", "1000"], |c| c["hooks"] = hooks.clone());
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let log = env.dir.path().join("log.json");
    let (ok, err) = env.quiet(&["--log", log.to_str().unwrap(), "--log-format", "json", "start", &id]);
    assert!(ok, "start must succeed despite the failing poststart hook: {err}");
    let lines = std::fs::read_to_string(&log).unwrap();
    let warning = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["msg"].as_str().unwrap_or("").contains("poststart hook /bin/false failed"))
        .unwrap_or_else(|| panic!("no warning logged: {lines}"));
    assert_eq!(warning["level"], "warning");
    assert!(marker.exists(), "the hook after the failing one must run");
    assert_eq!(env.status(&id), "running");
    env.ok(&["delete", "--force", &id]);
    // Foreground run: the program runs to its end, the warning goes to stderr.
    let _ = std::fs::remove_file(&marker);
    let b = env.bundle("fg", &["sh", "-c", "echo ALIVE; exit 3"], |c| c["hooks"] = hooks.clone());
    let (code, out, err) = env.run(&unique("poststart-fg"), &b);
    assert_eq!((code, out.as_str()), (3, "ALIVE\n"), "{err}");
    assert!(err.contains("poststart hook /bin/false failed"), "{err}");
    assert!(marker.exists());
}

/// Drops `type` from the spec's namespaces.
fn without_namespace(c: &mut serde_json::Value, typ: &str) {
    c["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != typ);
}

/// OCI: a namespace type missing from linux.namespaces is inherited from the
/// runtime. Without a mount namespace the container shares our mount table and
/// is chrooted into its rootfs (as runc does); nothing is mounted for it, and a
/// spec asking for mounts is refused before anything is made.
#[test]
fn no_mount_namespace_inherits_the_runtimes() {
    let env = Env::new();
    // A private rootfs: this container writes nothing, and the test checks it.
    let rootfs = env.dir.path().join("private-rootfs");
    support::build_rootfs(&rootfs);
    std::fs::write(rootfs.join("marker"), "inside the rootfs\n").unwrap();
    let before: Vec<_> = std::fs::read_dir(rootfs.join("dev")).unwrap().collect();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let b = env.bundle("b", &["sleep", "1000"], |c| {
        without_namespace(c, "mount");
        c["root"] = json!({"path": rootfs, "readonly": false});
        c["mounts"] = json!([]);
        c["linux"].as_object_mut().unwrap().remove("maskedPaths");
        c["linux"].as_object_mut().unwrap().remove("readonlyPaths");
    });
    let id = unique("nomntns");
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
    assert_eq!(ns(&pid.to_string()), ns("self"), "the container must inherit the runtime's mount namespace");
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/root")).unwrap(), rootfs, "chrooted into its rootfs");
    env.ok(&["start", &id]);
    // exec lands in the same root.
    assert_eq!(env.ok(&["exec", &id, "cat", "/marker"]), "inside the rootfs\n");
    env.ok(&["delete", "--force", &id]);
    assert_eq!(std::fs::read_dir(rootfs.join("dev")).unwrap().count(), before.len(), "nothing created in /dev");
    assert_eq!(std::fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts_before, "host mounts changed");
    // Mounts without a mount namespace would land on the host: refused up front.
    let b = env.bundle("mounts", &["true"], |c| {
        without_namespace(c, "mount");
        c["root"]["readonly"] = json!(false);
    });
    let (ok, err) = env.quiet(&["create", "--bundle", b.to_str().unwrap(), &unique("nomnt-mounts")]);
    assert!(!ok && err.contains("mounts needs a mount namespace"), "{err}");
    assert!(env.ids().is_empty());
    assert_eq!(std::fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts_before);
}

/// A process holding a mount namespace of its own (`unshare --mount`); killed on drop.
struct MountNsHolder(std::process::Child);

impl MountNsHolder {
    fn start() -> MountNsHolder {
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "1000"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("unshare (util-linux)");
        let holder = MountNsHolder(child);
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        // unshare(1) execs sleep once its namespace exists.
        eventually("the holder's own mount namespace", || {
            std::fs::read_link(holder.ns()).is_ok_and(|ns| ns != ours)
                && std::fs::read_to_string(format!("/proc/{}/comm", holder.0.id())).is_ok_and(|c| c.trim() == "sleep")
        });
        holder
    }

    fn ns(&self) -> String {
        format!("/proc/{}/ns/mnt", self.0.id())
    }
}

impl Drop for MountNsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A mount namespace given by path is joined: the container's mounts are made
/// in it (none reach the host) and the container sees its own rootfs.
#[test]
fn mount_namespace_joined_by_path() {
    let env = Env::new();
    let holder = MountNsHolder::start();
    let want = std::fs::read_link(holder.ns()).unwrap();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let id = unique("joinmnt");
    let b = env.bundle("b", &["sleep", "1000"], |c| {
        without_namespace(c, "mount");
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "mount", "path": holder.ns()}));
    });
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    env.ok(&["start", &id]);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        want,
        "init must be in the joined namespace"
    );
    let out = env.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "readlink /proc/self/ns/mnt; ls /bin/busybox; grep -c '^proc /proc proc' /proc/mounts",
    ]);
    assert_eq!(out, format!("{}\n/bin/busybox\n1\n", want.display()), "exec joins it too, in the container's root");
    env.ok(&["delete", "--force", &id]);
    assert_eq!(std::fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts_before, "mounts leaked to the host");
}
