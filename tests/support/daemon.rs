//! The `wharf daemon` harness shared by the daemon and security tests: a
//! daemon on a temporary socket and data root in a network namespace of its
//! own, driven by the docker CLI or raw HTTP, torn down on drop.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A daemon on a temporary socket and data root, inside a network namespace
/// of its own (bridges, veths and published ports never touch the host's).
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub netns: String,
    /// Started with `ip netns exec`, which remounts /sys: no cgroup mount is visible.
    pub without_cgroups: bool,
    /// More `wharf daemon` flags.
    pub args: Vec<String>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(false)
    }

    /// A daemon that sees no cgroup hierarchy (started under `ip netns exec`).
    pub fn start_without_cgroups() -> Daemon {
        Daemon::start_with(true)
    }

    /// A daemon started with more flags.
    pub fn start_with_args(args: &[&str]) -> Daemon {
        Daemon::start_full(false, args)
    }

    fn start_with(without_cgroups: bool) -> Daemon {
        Daemon::start_full(without_cgroups, &[])
    }

    fn start_full(without_cgroups: bool, args: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new().prefix("wharf-daemon-").tempdir().unwrap();
        let netns = format!("wharf-test-{}", &dir.path().file_name().unwrap().to_string_lossy()[13..]);
        let ok = Command::new("ip").args(["netns", "add", &netns]).status().unwrap().success()
            && Command::new("ip").args(["-n", &netns, "link", "set", "lo", "up"]).status().unwrap().success();
        assert!(ok, "create network namespace {netns}");
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut d = Daemon { dir, child: None, netns, without_cgroups, args };
        d.spawn();
        d
    }

    /// Runs a host command inside the daemon's network namespace.
    pub fn in_netns(&self, args: &[&str]) -> Output {
        Command::new("nsenter").arg(format!("--net=/run/netns/{}", self.netns)).args(args).output().unwrap()
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("wharf.sock")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.sock());
        let mut cmd = if self.without_cgroups {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &self.netns]);
            c
        } else {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{}", self.netns));
            c
        };
        let child = cmd
            .arg(super::WHARF)
            .arg("--data-root")
            .arg(self.data())
            .args(["daemon", "-H"])
            .arg(format!("unix://{}", self.sock().display()))
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(self.sock()).is_err() {
            assert!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        let bin = if Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" };
        Command::new(bin)
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        super::stdout_of(self.docker(args), args)
    }

    /// One raw HTTP request; returns (status, body).
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = UnixStream::connect(self.sock()).unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// Wharf's own CLI as a client of this daemon.
    pub fn wharf(&self, args: &[&str]) -> Output {
        Command::new(super::WHARF)
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .args(args)
            .env_remove("WHARF_DATA_ROOT")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn w(&self, args: &[&str]) -> String {
        super::stdout_of(self.wharf(args), args)
    }

    pub fn import_busybox(&self) {
        let tar = super::busybox_tar(self.dir.path());
        let out = Command::new(super::WHARF)
            .arg("--data-root")
            .arg(self.data())
            .args(["import", "-c", "CMD [\"sh\"]"])
            .arg(&tar)
            .arg("busybox:local")
            .output()
            .unwrap();
        super::stdout_of(out, "import busybox");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Remove every container (this also ends their monitors), then stop the daemon.
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.kill9();
        let _ = Command::new("ip").args(["netns", "delete", &self.netns]).status();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for line in mounts.lines().filter(|l| l.contains(self.dir.path().to_str().unwrap())) {
            if let Some(m) = line.split_whitespace().nth(4) {
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}
