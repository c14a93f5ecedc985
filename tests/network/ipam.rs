//! Addresses under load and across a daemon crash: concurrent starts on
//! one network never share an address, and a restarted daemon keeps every
//! running container's address and hands out no used one.

use std::collections::BTreeSet;

use crate::support::daemon::Daemon;

const IMG: &str = "busybox:local";

fn ips(d: &Daemon) -> Vec<String> {
    let ids = d.ok(&["ps", "-q"]);
    let mut args = vec!["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"];
    args.extend(ids.split_whitespace());
    d.ok(&args).lines().map(str::to_string).collect()
}

#[test]
fn concurrent_starts_get_distinct_addresses_that_survive_a_crash() {
    let mut d = Daemon::start();
    d.import_busybox();
    d.ok(&["network", "create", "--subnet", "10.78.0.0/24", "app"]);
    std::thread::scope(|s| {
        for i in 0..12 {
            let d = &d;
            s.spawn(move || d.ok(&["run", "-d", "--name", &format!("c{i}"), "--network", "app", IMG, "sleep", "1000"]));
        }
    });
    let before = ips(&d);
    let distinct: BTreeSet<&String> = before.iter().collect();
    assert_eq!((before.len(), distinct.len()), (12, 12), "{before:?}");
    assert!(before.iter().all(|ip| ip.starts_with("10.78.0.")), "{before:?}");
    d.kill9();
    d.spawn();
    let mut after = ips(&d);
    let mut sorted = before.clone();
    sorted.sort();
    after.sort();
    assert_eq!(after, sorted, "the restart kept every address");
    d.ok(&["run", "-d", "--name", "late", "--network", "app", IMG, "sleep", "1000"]);
    let late = d.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "late"]);
    assert!(!before.contains(&late.trim().to_string()), "{late} was in use");
    let all = d.ok(&["ps", "-aq"]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(all.split_whitespace());
    d.ok(&rm);
    d.ok(&["network", "rm", "app"]);
}

/// A data root used without a daemon (`compose` serves itself), in the
/// daemon's network namespace: another exec root, so other monitors,
/// sandboxes and bridge device.
struct OtherRoot<'a> {
    d: &'a Daemon,
    data: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl OtherRoot<'_> {
    fn wharf(&self, args: &[&str]) -> String {
        let mut all = vec![crate::support::WHARF, "--data-root", self.data.to_str().unwrap()];
        all.extend_from_slice(args);
        crate::support::stdout_of(self.d.in_netns(&all), args)
    }

    fn compose(&self, args: &[&str]) -> String {
        let mut all = vec!["compose", "-f", self.file.to_str().unwrap(), "-p", "other"];
        all.extend_from_slice(args);
        self.wharf(&all)
    }

    /// The subnet its store records for the predefined `bridge` network.
    fn bridge_subnet(&self) -> String {
        let dir = self.data.join("network/networks");
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| serde_json::from_slice::<serde_json::Value>(&std::fs::read(e.unwrap().path()).ok()?).ok())
            .find(|n| n["name"] == "bridge")
            .and_then(|n| n["subnet"].as_str().map(str::to_string))
            .expect("a recorded bridge network")
    }
}

impl Drop for OtherRoot<'_> {
    fn drop(&mut self) {
        let mut all = vec![crate::support::WHARF, "--data-root", self.data.to_str().unwrap(), "compose"];
        all.extend(["-f", self.file.to_str().unwrap(), "-p", "other", "down", "-t", "0"]);
        let _ = self.d.in_netns(&all);
        let exec_root = wharf::embedded::exec_root(&self.data);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let ours = |l: &&str| l.contains(self.data.to_str().unwrap()) || l.contains(exec_root.to_str().unwrap());
        for line in mounts.lines().filter(ours) {
            if let Some(m) = line.split_whitespace().nth(4) {
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&exec_root);
        let _ = exec_root.parent().map(std::fs::remove_dir);
    }
}

/// Two Wharf instances on one host (a daemon, and another data root used
/// without one) each get a bridge device and a subnet of their own, though
/// both recorded the same free pool for their predefined `bridge` before
/// either made its device: the second to make it takes a free subnet.
#[test]
fn two_data_roots_on_one_host_get_their_own_bridges_and_subnets() {
    let d = Daemon::start();
    d.import_busybox();
    let recorded =
        |d: &Daemon| d.ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"]);
    let before = recorded(&d).trim().to_string();
    let file = d.dir.path().join("other.yaml");
    std::fs::write(&file, "services:\n  b:\n    image: busybox:local\n    command: sleep 1000\n    network_mode: bridge\n    stop_signal: SIGKILL\n").unwrap();
    let other = OtherRoot { d: &d, data: d.dir.path().join("other-data"), file };
    let tar = crate::support::busybox_tar(d.dir.path());
    other.wharf(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), IMG]);
    other.compose(&["up", "-d"]);
    let sb = other.bridge_subnet();
    assert_eq!(sb, before, "the other instance made its device first, on the pool both recorded");
    d.ok(&["run", "-d", "--name", "a", IMG, "sleep", "1000"]);
    let sa = recorded(&d).trim().to_string();
    assert_ne!(sa, sb, "the daemon readdressed its bridge network before its first endpoint");
    let links =
        String::from_utf8_lossy(&d.in_netns(&["ip", "-o", "link", "show", "type", "bridge"]).stdout).into_owned();
    assert_eq!(links.matches(": wharf-").count(), 2, "a device each: {links}");
    // Each container reaches its own gateway.
    let gateway = |s: &str| s.replace(".0/16", ".1");
    d.ok(&["exec", "a", "ping", "-c", "1", "-W", "2", &gateway(&sa)]);
    other.compose(&["exec", "-T", "b", "ping", "-c", "1", "-W", "2", &gateway(&sb)]);
    d.ok(&["rm", "-f", "a"]);
}
