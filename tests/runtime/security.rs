//! Security end-to-end tests: the device policy under deny-all, fail-closed
//! cgroups, LSM requests on a host without the modules.

use serde_json::json;
use std::process::Command;

use super::support::{self, cgroup_dirs, Env};
use super::unique;

/// Deny-all device policy (as Docker asks for it): the spec's own devices can
/// still be created (the runtime appends `c *:* m` and `b *:* m`, as runc
/// does), nodes the policy does not allow exist but cannot be opened, and the
/// runtime's default devices stay usable. The same under runc.
#[test]
fn deny_all_devices_policy_enforced() {
    let script = "\
        mknod /dev/tty1 c 4 1 && echo TTY1_MKNOD; \
        (: < /dev/tty1) && echo TTY1_OPEN; \
        mknod /dev/loop0 b 7 0 && echo LOOP_MKNOD; \
        (: < /dev/loop0) && echo LOOP_OPEN; \
        mknod /dev/sda b 8 0 && (: < /dev/sda) && echo SDA_OPEN; \
        (: < /dev/fuse) && echo FUSE_OPEN; \
        echo x > /dev/testnull && echo TESTNULL_OK; \
        echo x > /dev/null && echo NULL_OK; \
        head -c 1 /dev/zero > /dev/null && echo ZERO_OK; \
        head -c 1 /dev/urandom > /dev/null && echo URANDOM_OK; \
        true";
    let mut outputs = Vec::new();
    let mut runtimes = vec![vec![support::WHARF, "runtime"]];
    if support::runc_available() {
        runtimes.push(vec!["runc"]);
    }
    for rt in &runtimes {
        let env = Env::with_runtime(rt);
        let b = env.bundle("b", &["sh", "-c", script], |c| {
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
            }
            // The spec's devices: a fuse-like node the policy does not allow, and 1:3 under another name.
            c["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
                {"path": "/dev/testnull", "type": "c", "major": 1, "minor": 3, "fileMode": 438},
            ]);
            c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        });
        let (code, out, err) = env.run(&unique("denyall"), &b);
        assert_eq!(code, 0, "{rt:?}: the container must start under deny-all: {out}{err}");
        outputs.push((out, err));
    }
    let (out, err) = &outputs[0];
    for want in ["TTY1_MKNOD", "LOOP_MKNOD", "TESTNULL_OK", "NULL_OK", "ZERO_OK", "URANDOM_OK"] {
        assert!(out.lines().any(|l| l == want), "missing {want}: {out}{err}");
    }
    for denied in ["TTY1_OPEN", "LOOP_OPEN", "SDA_OPEN", "FUSE_OPEN"] {
        assert!(!out.contains(denied), "{denied} must be refused by the device policy: {out}");
    }
    for node in ["/dev/tty1", "/dev/loop0", "/dev/sda", "/dev/fuse"] {
        assert!(err.contains(&format!("can't open {node}: Operation not permitted")), "{node}: {err}");
    }
    if let Some(runc) = outputs.get(1) {
        assert_eq!(&outputs[0], runc, "wharf (left) and runc (right) differ");
    }
}

/// An AppArmor profile or SELinux label the kernel cannot apply fails `create`
/// before anything is made (no state, no cgroup); empty values ask for nothing.
#[test]
fn lsm_requests_refused_without_the_module() {
    assert!(
        !wharf_runtime::lsm::apparmor_enabled() && !wharf_runtime::lsm::selinux_enabled(),
        "this test expects a host without AppArmor and SELinux"
    );
    let env = Env::new();
    let cases = [
        ("apparmor", "/process/apparmorProfile", "process.apparmorProfile is set but AppArmor is not enabled"),
        ("selinux", "/process/selinuxLabel", "process.selinuxLabel is set but SELinux is not enabled"),
        ("mountlabel", "/linux/mountLabel", "linux.mountLabel is set but SELinux is not enabled"),
    ];
    for (name, field, message) in cases {
        let id = unique(name);
        let cg = format!("wharf-test/{id}");
        let b = env.bundle(name, &["true"], |c| {
            c["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
            let (parent, key) = field.rsplit_once('/').unwrap();
            c.pointer_mut(parent).unwrap()[key] =
                json!(if name == "apparmor" { "foo" } else { "system_u:object_r:container_t:s0" });
        });
        let (ok, err) = env.quiet(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert!(!ok, "{name}: create must fail");
        assert!(err.contains(message), "{name}: expected {message:?} in {err:?}");
        assert!(env.ids().is_empty(), "{name}: container left behind");
        assert!(!env.root().join(&id).exists(), "{name}: state directory left behind");
        assert!(cgroup_dirs(&cg).is_empty(), "{name}: cgroup left behind");
    }
    // "unconfined" is a profile like any other.
    let b = env.bundle("unconfined", &["true"], |c| c["process"]["apparmorProfile"] = json!("unconfined"));
    let (ok, err) = env.quiet(&["create", "--bundle", b.to_str().unwrap(), &unique("unconfined")]);
    assert!(!ok && err.contains("AppArmor is not enabled"), "{err}");
    // Empty values are no request at all.
    let b = env.bundle("empty", &["sh", "-c", "echo RAN"], |c| {
        c["process"]["apparmorProfile"] = json!("");
        c["process"]["selinuxLabel"] = json!("");
        c["linux"]["mountLabel"] = json!("");
    });
    let (code, out, err) = env.run(&unique("empty"), &b);
    assert_eq!((code, out.as_str()), (0, "RAN\n"), "{err}");
    // exec of a process asking for a profile is refused too, and leaves the container running.
    let id = unique("lsmexec");
    let b = env.bundle("exec", &["sleep", "1000"], |_| {});
    env.quiet_ok(&["run", "--detach", "--bundle", b.to_str().unwrap(), &id]);
    let process = env.dir.path().join("process.json");
    let p = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "apparmorProfile": "foo"});
    std::fs::write(&process, p.to_string()).unwrap();
    let (ok, err) = env.quiet(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert!(!ok && err.contains("AppArmor is not enabled"), "{err}");
    assert_eq!(env.status(&id), "running");
    env.ok(&["delete", "--force", &id]);
}

/// A host where no cgroup hierarchy is visible (here: a private mount namespace
/// with /sys/fs/cgroup unmounted, as under `ip netns exec`) refuses to create.
#[test]
fn no_cgroup_hierarchy_refuses_create() {
    let env = Env::new();
    let id = unique("nocg");
    let b = env.bundle("b", &["true"], |_| {});
    let script = format!(
        "umount -R /sys/fs/cgroup && exec {} runtime --root {} create --bundle {} {id}",
        support::WHARF,
        env.root().display(),
        b.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "create must fail without a cgroup hierarchy");
    assert!(err.contains("no cgroup hierarchy is visible"), "{err}");
    assert!(env.ids().is_empty() && !env.root().join(&id).exists(), "state left behind");
}
