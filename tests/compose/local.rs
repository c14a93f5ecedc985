//! `wharf compose` without a daemon: the engine served from the compose
//! process itself (`--data-root`), containers left running under their
//! monitors when it ends, names served and health probed by the helper
//! that outlives it (and ends once nothing needs it), and a daemon refused the data root
//! while such a process serves it. Everything runs in a network namespace
//! of the test's own.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::support::{busybox_tar, stdout_of, WHARF};

const PROJECT: &str = r#"services:
  db:
    image: busybox:local
    command: sh -c 'echo db ready; exec sleep 1000'
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "sh", "-c", "! test -e /tmp/sick"], interval: 1s, retries: 1}
  web:
    image: busybox:local
    command: sleep 1000
    stop_signal: SIGKILL
    depends_on: {db: {condition: service_healthy}}
"#;

/// A data root, a project directory and a network namespace; on drop the
/// project goes down and the helpers, namespace and mounts go with it.
struct Local {
    dir: tempfile::TempDir,
    netns: String,
}

impl Local {
    fn new() -> Local {
        let dir = tempfile::Builder::new().prefix("wharf-local-").tempdir().unwrap();
        let netns = format!("wharf-local-{}", &dir.path().file_name().unwrap().to_string_lossy()[12..]);
        let ok = Command::new("ip").args(["netns", "add", &netns]).status().unwrap().success()
            && Command::new("ip").args(["-n", &netns, "link", "set", "lo", "up"]).status().unwrap().success();
        assert!(ok, "create network namespace {netns}");
        std::fs::create_dir_all(dir.path().join("shop")).unwrap();
        std::fs::write(dir.path().join("shop/compose.yaml"), PROJECT).unwrap();
        Local { dir, netns }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns)).arg(WHARF).arg("--data-root").arg(self.data()).args(args);
        c.current_dir(self.dir.path().join("shop")).env_remove("WHARF_HOST").env_remove("DOCKER_HOST");
        c
    }

    fn wharf(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn compose(&self, args: &[&str]) -> String {
        let mut all = vec!["compose"];
        all.extend_from_slice(args);
        stdout_of(self.wharf(&all), &all)
    }

    /// The resolver helpers serving this data root.
    fn resolvers(&self) -> Vec<i32> {
        let root = self.data().display().to_string();
        procfs::process::all_processes()
            .unwrap()
            .filter_map(|p| p.ok())
            .filter(|p| p.cmdline().is_ok_and(|c| c.iter().any(|a| a == "resolver") && c.contains(&root)))
            .map(|p| p.pid)
            .collect()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.wharf(&["compose", "down", "-v", "-t", "0"]);
        for pid in self.resolvers() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = Command::new("ip").args(["netns", "delete", &self.netns]).status();
        let exec_root = wharf::embedded::exec_root(&self.data());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let ours = |l: &&str| l.contains(self.dir.path().to_str().unwrap()) || l.contains(exec_root.to_str().unwrap());
        for line in mounts.lines().filter(ours) {
            if let Some(m) = line.split_whitespace().nth(4) {
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&exec_root);
        // `/run/wharf/local`, when no other data root uses it.
        let _ = exec_root.parent().map(std::fs::remove_dir);
    }
}

fn wait_until(secs: u64, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn compose_without_a_daemon() {
    let l = Local::new();
    let tar = busybox_tar(l.dir.path());
    stdout_of(
        l.wharf(&["import", "-c", "CMD [\"sh\"]", &tar.display().to_string(), "busybox:local"]),
        "import busybox",
    );
    // up --wait: db healthy (probed while the command runs), then web.
    l.compose(&["up", "-d", "--wait"]);
    let ps = l.compose(&["ps", "--format", "json"]);
    assert!(ps.contains("shop-db-1") && ps.contains("shop-web-1") && ps.contains("healthy"), "{ps}");
    // The command has ended: the containers run on, and names are served by the helper.
    assert_eq!(l.resolvers().len(), 1, "one resolver helper");
    let db_ip = l.compose(&["exec", "-T", "db", "hostname", "-i"]);
    let lookup = l.compose(&["exec", "-T", "web", "nslookup", "db"]);
    assert!(lookup.contains(&format!("Address: {}", db_ip.trim())), "{lookup} (db is {db_ip})");
    assert!(l.compose(&["logs", "--no-color", "db"]).contains("db-1  | db ready"));
    // Health is probed on after the command (by the helper): db turns unhealthy when told to.
    l.compose(&["exec", "-T", "db", "touch", "/tmp/sick"]);
    wait_until(60, "db never turned unhealthy: nothing probes it", || {
        l.compose(&["ps", "--format", "json", "db"]).contains("unhealthy")
    });

    // While a compose process serves the data root, a daemon is refused it.
    let mut follow = l.command(&["compose", "logs", "-f", "db"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(follow.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("db ready"), "{first}");
    let sock = l.dir.path().join("d.sock");
    let daemon = l
        .command(&["daemon", "-H", &format!("unix://{}", sock.display())])
        .arg("--exec-root")
        .arg(l.dir.path().join("exec"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    kill(&mut follow);
    let said = String::from_utf8_lossy(&daemon.stderr);
    assert!(!daemon.status.success() && said.contains("in use by wharf commands working without a daemon"), "{said}");
    assert!(!Path::new(&sock).exists());

    // down -v: nothing left, and the helper ends once nothing needs it.
    l.compose(&["down", "-v"]);
    assert!(l.compose(&["ps", "-a", "-q"]).trim().is_empty());
    let idle = wharf_engine::resolver::IDLE.as_secs();
    wait_until(idle + 30, "the resolver helper did not end once idle", || l.resolvers().is_empty());
}
