//! The real [`Host`]: iproute2 (`ip`) for namespaces, links, addresses and
//! routes, batched (`ip -batch -`) so a container's wiring costs two or
//! three process spawns; `/proc/net` for what exists.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Host, Veth};
use crate::error::{NetworkError, Result};
use crate::ipam::Subnet;

/// iproute2 on the daemon's network namespace. Sandboxes are network
/// namespaces mounted under `netns_dir` (`<exec-root>/netns`, as dockerd's
/// `<exec-root>/netns`), made with util-linux `unshare --net=FILE` and
/// entered with `nsenter --net=FILE` (iproute2's own `netns` commands only
/// know `/run/netns`).
#[derive(Debug, Clone)]
pub struct Iproute2 {
    netns_dir: PathBuf,
}

impl Iproute2 {
    pub fn new(netns_dir: impl Into<PathBuf>) -> Iproute2 {
        Iproute2 { netns_dir: netns_dir.into() }
    }

    /// The namespace directory exists and is a private mount of its own, so
    /// namespace mounts in it neither propagate nor pin other mount trees.
    fn ensure_dir(&self) -> Result<()> {
        let dir = &self.netns_dir;
        std::fs::create_dir_all(dir).map_err(NetworkError::io("create", dir))?;
        let mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(NetworkError::io("read", "/proc/self/mountinfo"))?
            .lines()
            .any(|l| l.split_whitespace().nth(4) == Some(&*dir.to_string_lossy()));
        if !mounted {
            use nix::mount::{mount, MsFlags};
            let fail = |e: nix::Error| NetworkError::io("mount", dir)(e.into());
            mount(Some(dir.as_path()), dir.as_path(), None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(fail)?;
            mount(None::<&str>, dir.as_path(), None::<&str>, MsFlags::MS_PRIVATE, None::<&str>).map_err(fail)?;
        }
        Ok(())
    }
}

fn spawn_error(command: &str, e: std::io::Error) -> NetworkError {
    NetworkError::Command {
        command: command.to_string(),
        message: format!("{e} (are iproute2 and util-linux installed?)"),
    }
}

/// Runs `ip ARGS`, inside the namespace mounted at `ns` if given.
fn run_in(ns: Option<&Path>, args: &[&str], input: Option<&str>) -> Result<()> {
    let mut cmd = match ns {
        Some(path) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", path.display())).arg("ip");
            c
        }
        None => Command::new("ip"),
    };
    let command = format!("ip {}", args.join(" "));
    let mut child = cmd
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&command, e))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A write error shows as the command's failure below.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Command { command: command.clone(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NetworkError::Command { command: format!("{command} {}", input.unwrap_or("").trim()), message });
    }
    Ok(())
}

fn run(args: &[&str], input: Option<&str>) -> Result<()> {
    run_in(None, args, input)
}

/// Runs iproute2 commands (one per line), optionally inside the namespace at `ns`.
fn batch(ns: Option<&Path>, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    run_in(ns, &["-batch", "-"], Some(&(lines.join("\n") + "\n")))
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(NetworkError::io("read", path))
}

/// Interface names of `/proc/net/dev` (per namespace, unlike `/sys/class/net`,
/// which shows the namespace sysfs was mounted in).
pub(crate) fn parse_dev(text: &str) -> impl Iterator<Item = &str> {
    text.lines().skip(2).filter_map(|l| l.split(':').next().map(str::trim))
}

/// Subnets of `/proc/net/route`.
pub(crate) fn parse_routes(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints network-order words in host (little-endian) order.
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then(|| Subnet { addr: Ipv4Addr::from(dest.to_le_bytes()), prefix })
        })
        .collect()
}

impl Host for Iproute2 {
    fn link_exists(&self, dev: &str) -> Result<bool> {
        Ok(parse_dev(&read("/proc/net/dev")?).any(|d| d == dev))
    }

    fn routes(&self) -> Result<Vec<Subnet>> {
        Ok(parse_routes(&read("/proc/net/route")?))
    }

    fn netns_path(&self, name: &str) -> PathBuf {
        self.netns_dir.join(name)
    }

    fn netns_exists(&self, name: &str) -> bool {
        self.netns_path(name).exists()
    }

    fn add_netns(&self, name: &str) -> Result<PathBuf> {
        let path = self.netns_path(name);
        if !path.exists() {
            self.ensure_dir()?;
            std::fs::File::create(&path).map_err(NetworkError::io("create", &path))?;
            let command = format!("unshare --net={} true", path.display());
            let out = Command::new("unshare")
                .arg(format!("--net={}", path.display()))
                .arg("true")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| spawn_error(&command, e))?;
            if !out.status.success() {
                let _ = std::fs::remove_file(&path);
                let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
                return Err(NetworkError::Command { command, message });
            }
        }
        batch(Some(&path), &["link set lo up".to_string()])?;
        Ok(path)
    }

    fn delete_netns(&self, name: &str) -> Result<()> {
        let path = self.netns_path(name);
        if path.exists() {
            match nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::Error::EINVAL) => {}
                Err(e) => return Err(NetworkError::io("unmount", &path)(e.into())),
            }
            std::fs::remove_file(&path).map_err(NetworkError::io("remove", &path))?;
        }
        Ok(())
    }

    fn add_bridge(&self, dev: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
        batch(
            None,
            &[
                format!("link add name {dev} type bridge"),
                format!("addr add {gateway}/{prefix} dev {dev}"),
                format!("link set {dev} up"),
            ],
        )
    }

    fn add_veth(&self, v: &Veth) -> Result<()> {
        batch(
            None,
            &[
                // iproute2 takes a path for `netns` (its names only live in /run/netns).
                format!(
                    "link add {} type veth peer name {} netns {}",
                    v.host,
                    v.peer,
                    self.netns_path(&v.netns).display()
                ),
                format!("link set {} master {}", v.host, v.bridge),
                format!("link set {} up", v.host),
            ],
        )
    }

    fn configure_peer(&self, v: &Veth) -> Result<()> {
        let mut lines = vec![
            format!("link set {} name {}", v.peer, v.ifname),
            format!("link set {} address {}", v.ifname, v.mac),
            format!("addr add {}/{} dev {}", v.addr, v.prefix, v.ifname),
            format!("link set {} up", v.ifname),
        ];
        if let Some(gw) = v.gateway {
            lines.push(format!("route add default via {gw}"));
        }
        batch(Some(&self.netns_path(&v.netns)), &lines)
    }

    fn delete_link(&self, dev: &str) -> Result<()> {
        if self.link_exists(dev)? {
            run(&["link", "delete", dev], None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                    br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n";
        let routes: Vec<String> = parse_routes(text).iter().map(|s| s.to_string()).collect();
        assert_eq!(routes, ["192.0.2.0/24", "172.17.0.0/16"], "the default route is no subnet");
    }

    #[test]
    fn devices_parse() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n";
        assert_eq!(parse_dev(text).collect::<Vec<_>>(), ["lo", "eth0"]);
    }
}
