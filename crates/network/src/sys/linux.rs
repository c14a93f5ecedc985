//! The real [`Host`]: rtnetlink (`rtnl.rs`) for links, addresses and
//! routes, and the kernel's own calls for network namespaces — no process
//! is spawned. A sandbox is a network namespace bind-mounted under
//! `netns_dir` (`<exec-root>/netns`, as dockerd's); its side of an
//! endpoint is configured through a netlink socket opened by a short-lived
//! thread that entered it, so the daemon's threads never change namespace.

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::rtnl::{Answer, Refused, Rtnl, CREATE};
use super::{Host, Veth};
use crate::error::{NetworkError, Result};
use crate::ipam::{self, Subnet};

/// The host-wide lock of [`Host::lock_addresses`] (every data root's, every
/// exec root's): in `/run`, which only root writes, mode 0600, so no other
/// user can hold it.
pub const ADDRESS_LOCK: &str = "/run/wharf-addresses.lock";

/// Netlink on the daemon's network namespace, namespaces under `netns_dir`.
#[derive(Debug, Clone)]
pub struct Netlink {
    netns_dir: PathBuf,
}

fn failed(target: &str) -> impl FnOnce(Refused) -> NetworkError + '_ {
    move |r| NetworkError::Netlink { op: r.op, target: target.to_string(), source: r.error }
}

fn open(target: &str) -> Result<Rtnl> {
    Rtnl::open().map_err(|error| failed(target)(Refused { op: "open netlink socket", error }))
}

/// A namespace thread's stack: netlink work needs little, and what a
/// thread touched stays resident in glibc's cache of stacks after it ends.
const NETNS_STACK: usize = 128 << 10;

/// Runs `f` on a thread of its own (with a small stack) that
/// entered the namespace mounted at `ns`; the caller's threads never
/// change namespace. Sockets `f` makes stay in that namespace.
pub(crate) fn in_namespace<T: Send>(ns: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(NETNS_STACK)
            .spawn_scoped(s, || {
                let file = File::open(ns).map_err(NetworkError::io("open", ns))?;
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| NetworkError::io("enter", ns)(e.into()))?;
                f()
            })
            .map_err(NetworkError::io("start a thread for", ns))?
            .join()
            .unwrap_or_else(|_| Err(NetworkError::io("configure", ns)(std::io::Error::other("netns thread panicked"))))
    })
}

/// Runs `f` with a netlink socket of the namespace mounted at `ns`.
fn in_netns<T: Send>(ns: &Path, f: impl FnOnce(&mut Rtnl) -> Result<T> + Send) -> Result<T> {
    in_namespace(ns, || f(&mut open(&ns.to_string_lossy())?))
}

/// Link `name`'s index, or ENODEV as the kernel's error.
fn index(rtnl: &mut Rtnl, name: &str) -> Answer<u32> {
    rtnl.link_index(name)?
        .ok_or(Refused { op: "find link", error: std::io::Error::from_raw_os_error(nix::errno::Errno::ENODEV as i32) })
}

fn lo_up(rtnl: &mut Rtnl, ns: &str) -> Result<()> {
    let lo = index(rtnl, "lo").map_err(failed(ns))?;
    rtnl.set_up(lo).map_err(failed(ns))
}

impl Netlink {
    pub fn new(netns_dir: impl Into<PathBuf>) -> Netlink {
        Netlink { netns_dir: netns_dir.into() }
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
            let fail = |e: nix::Error| NetworkError::io("mount", dir)(e.into());
            mount(Some(dir.as_path()), dir.as_path(), None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(fail)?;
            mount(None::<&str>, dir.as_path(), None::<&str>, MsFlags::MS_PRIVATE, None::<&str>).map_err(fail)?;
        }
        Ok(())
    }

    /// A new network namespace mounted at `path` (an empty file), loopback up.
    fn make_netns(path: &Path) -> Result<()> {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(NETNS_STACK)
                .spawn_scoped(s, || {
                    let fail = |what: &'static str| move |e: nix::Error| NetworkError::io(what, path)(e.into());
                    // Only this thread moves; it ends here.
                    unshare(CloneFlags::CLONE_NEWNET).map_err(fail("unshare a network namespace for"))?;
                    mount(Some("/proc/thread-self/ns/net"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                        .map_err(fail("mount"))?;
                    lo_up(&mut open(&path.to_string_lossy())?, &path.to_string_lossy())
                })
                .map_err(NetworkError::io("start a thread for", path))?
                .join()
                .unwrap_or_else(|_| {
                    Err(NetworkError::io("create", path)(std::io::Error::other("netns thread panicked")))
                })
        })
    }
}

impl Host for Netlink {
    fn link_exists(&self, dev: &str) -> Result<bool> {
        Ok(open(dev)?.link_index(dev).map_err(failed(dev))?.is_some())
    }

    fn lock_addresses(&self) -> Result<super::AddressLock> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Path::new(ADDRESS_LOCK);
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(path)
            .map_err(NetworkError::io("open", path))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(Some)
            .map_err(|(_, e)| NetworkError::io("lock", path)(e.into()))
    }

    fn routes(&self) -> Result<Vec<Subnet>> {
        let routes = open("the routing table")?.routes().map_err(failed("the routing table"))?;
        Ok(routes.into_iter().filter(|(_, p)| *p > 0).map(|(addr, prefix)| Subnet { addr, prefix }).collect())
    }

    fn netns_path(&self, name: &str) -> PathBuf {
        self.netns_dir.join(name)
    }

    fn netns_exists(&self, name: &str) -> bool {
        self.netns_path(name).exists()
    }

    fn add_netns(&self, name: &str) -> Result<PathBuf> {
        let path = self.netns_path(name);
        if path.exists() {
            in_netns(&path, |rtnl| lo_up(rtnl, name))?;
            return Ok(path);
        }
        self.ensure_dir()?;
        File::create(&path).map_err(NetworkError::io("create", &path))?;
        if let Err(e) = Self::make_netns(&path) {
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
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

    fn add_bridge(&self, dev: &str, gateway: Ipv4Addr, prefix: u8, mtu: Option<u32>) -> Result<()> {
        let mut rtnl = open(dev)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(dev.to_string()));
        msg.attributes.extend(mtu.map(LinkAttribute::Mtu));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        rtnl.change("add bridge", RouteNetlinkMessage::NewLink(msg), CREATE).map_err(failed(dev))?;
        let configured = index(&mut rtnl, dev)
            .and_then(|i| rtnl.add_address(i, gateway, prefix).and_then(|()| rtnl.set_up(i)))
            .map_err(failed(dev));
        if configured.is_err() {
            let _ = self.delete_link(dev);
        }
        configured
    }

    fn add_address6(&self, dev: &str, addr: Ipv6Addr, prefix: u8) -> Result<()> {
        let mut rtnl = open(dev)?;
        let i = index(&mut rtnl, dev).map_err(failed(dev))?;
        rtnl.add_address6(i, addr, prefix).map_err(failed(dev))
    }

    fn add_veth(&self, v: &Veth) -> Result<()> {
        let mut rtnl = open(&v.host)?;
        let bridge = index(&mut rtnl, &v.bridge).map_err(failed(&v.bridge))?;
        let ns_path = self.netns_path(&v.netns);
        let ns = File::open(&ns_path).map_err(NetworkError::io("open", &ns_path))?;
        // The sandbox end is made inside the sandbox, under its final name and MAC address.
        let mut peer = LinkMessage::default();
        peer.attributes.push(LinkAttribute::IfName(v.ifname.clone()));
        peer.attributes.push(LinkAttribute::Address(ipam::mac_octets(&v.mac)?.to_vec()));
        peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        peer.attributes.extend(v.mtu.map(LinkAttribute::Mtu));
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(v.host.clone()));
        msg.attributes.push(LinkAttribute::Controller(bridge));
        msg.attributes.extend(v.mtu.map(LinkAttribute::Mtu));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        rtnl.change("add veth", RouteNetlinkMessage::NewLink(msg), CREATE).map_err(failed(&v.host))
    }

    fn configure_peer(&self, v: &Veth) -> Result<()> {
        in_netns(&self.netns_path(&v.netns), |rtnl| {
            let i = index(rtnl, &v.ifname).map_err(failed(&v.ifname))?;
            rtnl.add_address(i, v.addr, v.prefix).map_err(failed(&v.ifname))?;
            if let Some((a, p)) = v.addr6 {
                rtnl.add_address6(i, a, p).map_err(failed(&v.ifname))?;
            }
            rtnl.set_up(i).map_err(failed(&v.ifname))?;
            if let Some(gw) = v.gateway {
                rtnl.add_default_route(gw.into()).map_err(failed(&v.ifname))?;
            }
            if let Some(gw) = v.gateway6 {
                rtnl.add_default_route(gw.into()).map_err(failed(&v.ifname))?;
            }
            Ok(())
        })
    }

    fn delete_link(&self, dev: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(dev.to_string()));
        match open(dev)?.change("delete link", RouteNetlinkMessage::DelLink(msg), 0) {
            Err(r) if r.error.raw_os_error() == Some(nix::errno::Errno::ENODEV as i32) => Ok(()),
            other => other.map_err(failed(dev)),
        }
    }
}
