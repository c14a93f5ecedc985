//! `wharf_network::sys::Netlink` keeps the host contract, in a network
//! namespace of the test's own (the thread that runs it leaves the test
//! process's; the links it makes die with it).

use std::path::{Path, PathBuf};

use wharf_network::sys::contract::host_contract;
use wharf_network::sys::Netlink;

/// Unmounts the namespace files under `dir` and `dir`'s own bind mount.
struct Mounts(PathBuf);

impl Drop for Mounts {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for e in entries.flatten() {
                let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn in_private_netns(dir: &Path) {
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("a network namespace of the test's own");
        let _mounts = Mounts(dir.clone());
        host_contract(&Netlink::new(&dir), "wt");
    })
    .join()
    .expect("the netlink host keeps the host contract");
}

#[test]
fn netlink_keeps_the_host_contract() {
    let dir = tempfile::tempdir().unwrap();
    in_private_netns(&dir.path().join("netns"));
}

#[test]
fn nftables_keeps_the_firewall_contract() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("firewall.lock");
    std::thread::spawn(move || {
        // nft runs as a child of this thread: in its namespace, where the table dies with it.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("a network namespace of the test's own");
        let fw = wharf_network::firewall::NfTables::new(lock);
        wharf_network::firewall::contract::firewall_contract(&fw);
        let rules = wharf_network::Firewall::rules(&fw).unwrap();
        assert!(rules.contains("masquerade") && rules.contains("dnat ip to"), "{rules}");
        let forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        assert_eq!(forward.trim(), "1", "forwarding is on in the namespace");
    })
    .join()
    .expect("nftables keeps the firewall contract");
}
