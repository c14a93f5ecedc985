//! IPv6 networks through `wharf daemon`: both address families from IPAM,
//! `--ip6`, IPv6 between containers by name (AAAA), NAT66 egress to the
//! outside world, inspect fields.

use crate::nat::{client_seen, text, Outside};
use crate::support::daemon::Daemon;

const IMG: &str = "busybox:local";

fn field(d: &Daemon, name: &str, f: &str) -> String {
    d.ok(&["inspect", "-f", &format!("{{{{range .NetworkSettings.Networks}}}}{{{{.{f}}}}}{{{{end}}}}"), name])
        .trim()
        .to_string()
}

#[test]
fn dual_stack_networks_address_resolve_and_masquerade_ipv6() {
    let d = Daemon::start();
    d.import_busybox();
    let mut out = Outside::new(&d).with_ipv6(&d);
    out.serve(7003);
    d.ok(&["network", "create", "--ipv6", "--subnet", "10.76.0.0/24", "--subnet", "fd00:76::/64", "six"]);
    let inspect = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}},{{.Gateway}} {{end}}",
        "six",
    ]);
    assert_eq!(inspect.trim(), "true 10.76.0.0/24,10.76.0.1 fd00:76::/64,fd00:76::1");
    d.ok(&["run", "-d", "--name", "a", "--network", "six", IMG, "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "b", "--network", "six", "--ip6", "fd00:76::99", IMG, "sleep", "1000"]);
    assert_eq!(field(&d, "a", "GlobalIPv6Address"), "fd00:76::2");
    assert_eq!(
        (field(&d, "a", "GlobalIPv6PrefixLen"), field(&d, "a", "IPv6Gateway")),
        ("64".into(), "fd00:76::1".into())
    );
    assert_eq!(field(&d, "b", "GlobalIPv6Address"), "fd00:76::99");
    let ping = d.docker(&["exec", "b", "ping6", "-c", "1", "-W", "3", "fd00:76::2"]);
    assert!(ping.status.success(), "{ping:?}");
    let aaaa = text(&d.docker(&["exec", "b", "nslookup", "-type=aaaa", "a"]));
    assert!(aaaa.contains("fd00:76::2"), "{aaaa}");
    // NAT66: the outside world sees the host's IPv6 address.
    let answer = d.ok(&["exec", "a", "nc", "-w", "5", "fd00:5100::2", "7003"]);
    assert_eq!(client_seen(&answer, 7003).as_deref(), Some("fd00:5100::1"), "{answer}");
    // A published port on IPv6 too: DNAT from outside (the client's own
    // address reaches the container), the proxy on the host's ::1.
    let serve = ["nc", "-ll", "-p", "80", "-e", "netstat", "-tn"];
    let mut args = vec!["run", "-d", "--name", "w", "--network", "six", "-p", "8084:80", IMG];
    args.extend(serve);
    d.ok(&args);
    let seen = |o: std::process::Output| client_seen(&text(&o), 80);
    let from_outside = || seen(out.run(&["busybox", "nc", "-w", "5", "fd00:5100::1", "8084"]));
    crate::support::eventually("the port answers on IPv6", || from_outside().is_some());
    assert_eq!(from_outside().as_deref(), Some("fd00:5100::2"));
    assert!(seen(d.in_netns(&["busybox", "nc", "-w", "5", "::1", "8084"])).is_some(), "::1 through the proxy");
    assert!(seen(d.in_netns(&["busybox", "nc", "-w", "5", "127.0.0.1", "8084"])).is_some(), "and IPv4 still");
    // A port on one IPv6 address of the host.
    let mut args = vec!["run", "-d", "--name", "w1", "--network", "six", "-p", "[::1]:8085:80", IMG];
    args.extend(serve);
    d.ok(&args);
    crate::support::eventually("[::1]:8085 answers", || {
        seen(d.in_netns(&["busybox", "nc", "-w", "3", "::1", "8085"])).is_some()
    });
    let ports = d.ok(&["port", "w1"]);
    assert!(ports.contains("[::1]:8085"), "{ports}");
    let ours = text(&d.wharf(&["port", "w1"]));
    assert_eq!(ours, ports, "wharf port prints as docker port");
    d.ok(&["rm", "-f", "w", "w1"]);
    // --ip6 on a network without IPv6, a v6 subnet without --ipv6: refused.
    d.ok(&["network", "create", "v4only"]);
    let bad = d.docker(&["run", "--rm", "--network", "v4only", "--ip6", "fd00:1::5", IMG, "true"]);
    assert!(!bad.status.success(), "{bad:?}");
    let bad = d.docker(&["network", "create", "--subnet", "fd00:77::/64", "nov6"]);
    assert!(!bad.status.success(), "{bad:?}");
    d.ok(&["rm", "-f", "a", "b"]);
    d.ok(&["network", "rm", "six", "v4only"]);
    let rules = text(&d.in_netns(&["nft", "list", "table", "inet", "wharf"]));
    assert!(!rules.contains("fd00:76::"), "{rules}");
}
