//! The embedded DNS server through `wharf daemon`: names, aliases and
//! round robin on user-defined networks, PTR, AAAA, forwarding to the
//! container's upstream (a DNS server in the test's outside world), no
//! names on the default bridge, and a daemon crash + restart.

use crate::nat::{text, Outside, OUTSIDE_IP};
use crate::support::daemon::Daemon;

const IMG: &str = "busybox:local";

/// The IPv4 answers of a busybox `nslookup` (not the server's own line).
fn addresses(answer: &str) -> Vec<String> {
    answer
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:").map(|a| a.trim().to_string()))
        .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .collect()
}

fn ip_of(d: &Daemon, name: &str) -> String {
    d.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]).trim().to_string()
}

#[test]
fn names_aliases_round_robin_reverse_and_forwarding() {
    let d = Daemon::start();
    d.import_busybox();
    let mut out = Outside::new(&d);
    out.dns("outside.test", "203.0.113.7");
    d.ok(&["network", "create", "app"]);
    for n in ["web1", "web2"] {
        d.ok(&["run", "-d", "--name", n, "--network", "app", "--network-alias", "svc", IMG, "sleep", "1000"]);
    }
    let (ip1, ip2) = (ip_of(&d, "web1"), ip_of(&d, "web2"));
    d.ok(&["run", "-d", "--name", "c", "--network", "app", "--dns", OUTSIDE_IP, IMG, "sleep", "1000"]);
    let exec = |args: &[&str]| {
        let mut a = vec!["exec", "c"];
        a.extend_from_slice(args);
        text(&d.docker(&a))
    };
    let conf = exec(&["cat", "/etc/resolv.conf"]);
    assert!(conf.contains("nameserver 127.0.0.11") && !conf.contains(OUTSIDE_IP), "{conf}");
    let hosts = exec(&["cat", "/etc/hosts"]);
    assert!(!hosts.contains("web1") && !hosts.contains(&ip1), "peers are the resolver's: {hosts}");
    // Names, with the network's name, and the short id.
    assert_eq!(addresses(&exec(&["nslookup", "web1"])), vec![ip1.as_str()]);
    assert_eq!(addresses(&exec(&["nslookup", "web2.app"])), vec![ip2.as_str()]);
    let short = d.ok(&["inspect", "-f", "{{.Id}}", "web2"])[..12].to_string();
    assert_eq!(addresses(&exec(&["nslookup", &short])), vec![ip2.as_str()]);
    // An alias: every holder, each leading in turn.
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let all = addresses(&exec(&["nslookup", "-type=a", "svc"]));
        let mut sorted = all.clone();
        sorted.sort();
        let mut want = vec![ip1.clone(), ip2.clone()];
        want.sort();
        assert_eq!(sorted, want);
        firsts.insert(all[0].clone());
    }
    assert_eq!(firsts.len(), 2, "round robin: {firsts:?}");
    // AAAA of a known name: no data, not NXDOMAIN; PTR of an address.
    let aaaa = exec(&["nslookup", "-type=aaaa", "web1"]);
    assert!(!aaaa.contains("NXDOMAIN") && addresses(&aaaa).is_empty(), "{aaaa}");
    let ptr = exec(&["nslookup", &ip1]);
    assert!(ptr.contains("name = web1.app"), "{ptr}");
    // Everything else goes to the container's --dns server (outside).
    assert_eq!(addresses(&exec(&["nslookup", "outside.test"])), ["203.0.113.7"]);
    let nx = exec(&["nslookup", "nowhere.test"]);
    assert!(nx.contains("NXDOMAIN"), "the upstream's answer is relayed: {nx}");
    // TCP too.
    let tcp = d.docker(&["exec", "c", "sh", "-c", "echo | nc 127.0.0.11 53 && echo connected"]);
    assert!(text(&tcp).contains("connected"), "{tcp:?}");
    // A removed container's name is gone.
    d.ok(&["rm", "-f", "web2"]);
    assert_eq!(addresses(&exec(&["nslookup", "-type=a", "svc"])), vec![ip1.as_str()]);
    // The default bridge has no resolver (as Docker): the host's servers.
    let conf = d.ok(&["run", "--rm", IMG, "cat", "/etc/resolv.conf"]);
    assert!(!conf.contains("127.0.0.11"), "{conf}");
    for n in ["web1", "c"] {
        d.ok(&["rm", "-f", n]);
    }
    d.ok(&["network", "rm", "app"]);
}

#[test]
fn a_restarted_daemon_serves_running_containers_again() {
    let mut d = Daemon::start();
    d.import_busybox();
    d.ok(&["network", "create", "app"]);
    d.ok(&["run", "-d", "--name", "web", "--network", "app", IMG, "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "c", "--network", "app", IMG, "sleep", "1000"]);
    let ip = ip_of(&d, "web");
    let lookup = |d: &Daemon| addresses(&text(&d.docker(&["exec", "c", "nslookup", "web"])));
    assert_eq!(lookup(&d), vec![ip.as_str()]);
    d.kill9();
    d.spawn();
    assert_eq!(lookup(&d), vec![ip.as_str()], "the restart attached the running container again");
    // A container connected to a user network later is served from then on.
    d.ok(&["run", "-d", "--name", "late", IMG, "sleep", "1000"]);
    assert!(!text(&d.docker(&["exec", "late", "cat", "/etc/resolv.conf"])).contains("127.0.0.11"));
    d.ok(&["network", "connect", "app", "late"]);
    let conf = text(&d.docker(&["exec", "late", "cat", "/etc/resolv.conf"]));
    assert!(conf.contains("nameserver 127.0.0.11"), "{conf}");
    assert_eq!(addresses(&text(&d.docker(&["exec", "late", "nslookup", "web"]))), vec![ip.as_str()]);
    for n in ["web", "c", "late"] {
        d.ok(&["rm", "-f", n]);
    }
    d.ok(&["network", "rm", "app"]);
}
