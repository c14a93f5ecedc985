//! End-to-end tests of `wharf run`: containers from images, in the foreground.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Data {
    dir: tempfile::TempDir,
}

impl Data {
    /// A data root with `busybox:local` imported (CMD sh, ENV FOO=image, WORKDIR /srv).
    fn new() -> Data {
        let dir = tempfile::Builder::new().prefix("wharf-run-").tempdir().unwrap();
        let d = Data { dir };
        let tar = support::busybox_tar(d.dir.path());
        let args = [
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "ENV FOO=image",
            "-c",
            "WORKDIR /srv",
            tar.to_str().unwrap(),
            "busybox:local",
        ];
        support::stdout_of(d.wharf(&args), args);
        d
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn wharf(&self, args: &[&str]) -> Output {
        Command::new(support::WHARF).arg("--data-root").arg(self.root()).args(args).output().unwrap()
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        let out = self.wharf(&full);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Nothing of any container may remain.
    fn assert_clean(&self) {
        let containers = self.root().join("containers");
        let left: Vec<_> = std::fs::read_dir(&containers).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "container dirs left: {left:?}");
        let active: Vec<_> = std::fs::read_dir(self.root().join("image/snapshots/active")).unwrap().flatten().collect();
        assert!(active.is_empty(), "writable layers left: {active:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(self.root().to_str().unwrap()), "mounts left");
        let runtime = self.root().join("runtime");
        let states: Vec<_> = std::fs::read_dir(&runtime)
            .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).collect())
            .unwrap_or_default();
        assert!(states.is_empty(), "runtime state left: {states:?}");
    }
}

#[test]
fn runs_image_with_its_config_and_overrides() {
    let d = Data::new();
    let (code, out, err) = d.run(&["busybox:local", "sh", "-c", "echo $FOO; pwd; hostname | wc -c; id -u"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "image");
    assert_eq!(lines[1], "/srv");
    assert_eq!(lines[2].trim(), "13", "12-character hostname from the id");
    assert_eq!(lines[3], "0");
    let (code, out, err) = d.run(&[
        "-e",
        "FOO=flag",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--hostname",
        "box",
        "busybox:local",
        "sh",
        "-c",
        "echo $FOO; pwd; hostname; id -un; cat /etc/hostname",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "flag\n/tmp\nbox\nnobody\nbox\n");
    // Image CMD when none is given.
    let (code, _, err) = d.run(&["busybox:local"]);
    assert_eq!(code, 0, "sh with no stdin exits 0: {err}");
    d.assert_clean();
}

#[test]
fn exit_codes_like_docker() {
    let d = Data::new();
    assert_eq!(d.run(&["busybox:local", "sh", "-c", "exit 42"]).0, 42);
    let (code, _, err) = d.run(&["busybox:local", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("executable file not found"), "{err}");
    let (code, _, err) = d.run(&["nosuch:image"]);
    assert_eq!(code, 125);
    assert!(err.contains("no such image"), "{err}");
    let (code, _, err) = d.run(&["-u", "ghost", "busybox:local", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("unable to find user ghost"), "{err}");
    let (code, _, err) = d.run(&["-d", "busybox:local", "true"]);
    assert_eq!(code, 125, "{err}");
    d.assert_clean();
}

#[test]
fn limits_and_privileges() {
    let d = Data::new();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let probe = if v2 {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    };
    let (code, out, err) = d.run(&["-m", "64m", "--pids-limit", "50", "busybox:local", "sh", "-c", probe]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), [(64u64 << 20).to_string().as_str(), "50"]);
    // Docker's default capabilities include CHOWN; dropping it is enforced.
    let (_, out, err) = d.run(&["busybox:local", "sh", "-c", "touch /tmp/f && chown 1 /tmp/f && echo CHOWN_OK"]);
    assert!(out.contains("CHOWN_OK"), "{out}{err}");
    let (_, out, _) =
        d.run(&["--cap-drop", "chown", "busybox:local", "sh", "-c", "touch /tmp/f && chown 1 /tmp/f && echo CHOWN_OK"]);
    assert!(!out.contains("CHOWN_OK"));
    let (_, out, err) = d.run(&["--ulimit", "nofile=512:1024", "busybox:local", "sh", "-c", "ulimit -n; ulimit -Hn"]);
    assert_eq!(out, "512\n1024\n", "{err}");
    assert_eq!(d.run(&["--ulimit", "bogus=1", "busybox:local", "true"]).0, 125);
    let (_, out, _) = d.run(&["--read-only", "busybox:local", "sh", "-c", "touch /x 2>/dev/null || echo RO"]);
    assert_eq!(out.trim(), "RO");
    let (_, out, _) =
        d.run(&["--privileged", "busybox:local", "sh", "-c", "grep -E '^(CapEff|Seccomp):' /proc/self/status"]);
    assert!(out.contains("Seccomp:\t0"), "{out}");
    // Writes go to the container's own layer: the next container sees a clean image.
    let (_, out, _) = d.run(&["busybox:local", "sh", "-c", "ls /tmp/f 2>/dev/null || echo CLEAN"]);
    assert_eq!(out.trim(), "CLEAN");
    d.assert_clean();
}

#[test]
fn init_reaps_orphans_and_runs_the_command_as_pid_2() {
    let d = Data::new();
    let (code, out, err) = d.run(&["--init", "busybox:local", "sh", "-c", "echo $$; cat /proc/1/comm"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "2\nwharf-init\n");
    // An orphan re-parented to pid 1 is reaped: no zombie remains.
    let script = "sh -c 'sleep 0.1 &'; sleep 0.5; grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l";
    let (code, out, err) = d.run(&["--init", "busybox:local", "sh", "-c", script]);
    assert_eq!((code, out.trim()), (0, "0"), "{err}");
    assert_eq!(d.run(&["--init", "busybox:local", "sh", "-c", "exit 7"]).0, 7);
    assert_eq!(d.run(&["--init", "busybox:local", "sh", "-c", "kill -9 $$"]).0, 137);
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let probe = if v2 { "cat /sys/fs/cgroup/cpuset.cpus" } else { "cat /sys/fs/cgroup/cpuset/cpuset.cpus" };
    let (code, out, err) = d.run(&["--cpuset-cpus", "0", "busybox:local", "sh", "-c", probe]);
    assert_eq!((code, out.trim()), (0, "0"), "{err}");
    let (code, _, err) = d.run(&["--cpuset-cpus", "x-y", "busybox:local", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("cpuset-cpus"), "{err}");
    d.assert_clean();
}

/// `wharf build` without a daemon: the builder runs in the CLI process.
#[test]
fn builds_without_a_daemon() {
    let d = Data::new();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f.txt"), "in-image\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g.txt\nCMD [\"cat\", \"/g.txt\"]\n",
    )
    .unwrap();
    let out = d.wharf(&["build", "-t", "local-built:1", ctx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Successfully tagged local-built:1"));
    let (code, out, err) = d.run(&["local-built:1"]);
    assert_eq!((code, out.as_str()), (0, "in-image\n"), "{err}");
    d.assert_clean();
}
