//! NAT, published ports and isolation through `wharf daemon`, with a
//! namespace of the test's own as the outside world: a veth from the
//! daemon's namespace (198.51.100.1, the "host's address") to it
//! (198.51.100.2). The servers answer with `netstat -tn` run on the
//! accepted connection, so a client reads the address the server saw.

use std::process::{Child, Command, Output, Stdio};

use crate::support::daemon::Daemon;
use crate::support::eventually;

const IMG: &str = "busybox:local";
pub const HOST_IP: &str = "198.51.100.1";
pub const OUTSIDE_IP: &str = "198.51.100.2";

/// The outside world: a network namespace behind the daemon's, and the
/// servers started in it; removed (the veth with it) on drop.
pub struct Outside {
    netns: String,
    servers: Vec<Child>,
}

impl Outside {
    pub fn new(d: &Daemon) -> Outside {
        let netns = format!("{}-o", d.netns);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let o = Outside { netns: netns.clone(), servers: Vec::new() };
        ip(&["netns", "add", &netns]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        ip(&["link", "add", "wout0", "netns", &d.netns, "type", "veth", "peer", "name", "eth0", "netns", &netns]);
        ip(&["-n", &d.netns, "addr", "add", &format!("{HOST_IP}/24"), "dev", "wout0"]);
        ip(&["-n", &d.netns, "link", "set", "wout0", "up"]);
        ip(&["-n", &netns, "addr", "add", &format!("{OUTSIDE_IP}/24"), "dev", "eth0"]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        o
    }

    /// IPv6 on the link too: the host fd00:5100::1, the outside fd00:5100::2.
    pub fn with_ipv6(self, d: &Daemon) -> Outside {
        for (ns, dev, addr) in [(&d.netns, "wout0", "fd00:5100::1/64"), (&self.netns, "eth0", "fd00:5100::2/64")] {
            let out = Command::new("ip").args(["-n", ns, "addr", "add", addr, "dev", dev, "nodad"]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        self
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns)).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Starts a server here (stopped on drop) and waits until `netstat
    /// <flags>` shows `listening`.
    fn server(&mut self, args: &[&str], flags: &str, listening: &str) {
        let child = self.cmd(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        self.servers.push(child);
        eventually(&format!("the outside {} listens", args[0]), || {
            String::from_utf8_lossy(&self.run(&["busybox", "netstat", flags]).stdout).contains(listening)
        });
    }

    /// A server on `port` that answers each connection with what it sees of it.
    pub fn serve(&mut self, port: u16) {
        let port = port.to_string();
        self.server(
            &["busybox", "nc", "-ll", "-p", &port, "-e", "busybox", "netstat", "-tn"],
            "-tln",
            &format!(":{port} "),
        );
    }
}

impl Outside {
    /// A DNS server on the outside address (dnsmasq, answering only what
    /// it is given: no upstream of its own) that resolves `name` to `ip`
    /// and says NXDOMAIN for `nowhere.test`.
    pub fn dns(&mut self, name: &str, ip: &str) {
        let (address, listening) = (format!("--address=/{name}/{ip}"), format!("{OUTSIDE_IP}:53 "));
        let args = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address",
            OUTSIDE_IP,
            "--pid-file=",
            "--user=root",
            &address,
            "--address=/nowhere.test/",
        ];
        self.server(&args, "-uln", &listening);
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new("ip").args(["netns", "delete", &self.netns]).status();
    }
}

/// The client address a `netstat -tn` answer shows for the server's `port`.
pub fn client_seen(answer: &str, port: u16) -> Option<String> {
    answer.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local = f.get(3)?;
        local.ends_with(&format!(":{port}")).then(|| {
            let foreign = f.get(4).copied().unwrap_or_default();
            let ip = foreign.rsplit_once(':').map_or(foreign, |(ip, _)| ip);
            ip.trim_start_matches("::ffff:").to_string()
        })
    })
}

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rules(d: &Daemon) -> String {
    text(&d.in_netns(&["nft", "list", "table", "inet", "wharf"]))
}

/// A container serving on port 80 what it sees of each connection.
fn web(d: &Daemon, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMG, "nc", "-ll", "-p", "80", "-e", "netstat", "-tn"]);
    d.ok(&args);
    d.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]).trim().to_string()
}

#[test]
fn egress_is_masqueraded_and_published_ports_keep_the_client_address() {
    let d = Daemon::start();
    d.import_busybox();
    let mut out = Outside::new(&d);
    out.serve(7000);
    // Egress: the outside world sees the host's address, not the container's.
    let answer = d.ok(&["run", "--rm", IMG, "nc", OUTSIDE_IP, "7000"]);
    assert_eq!(client_seen(&answer, 7000).as_deref(), Some(HOST_IP), "{answer}");

    let ip = web(&d, "web", &["-p", "8080:80"]);
    let seen = |o: Output| client_seen(&text(&o), 80);
    // Loopback (the userland proxy serves it), once the container listens.
    eventually("the published port answers on 127.0.0.1", || {
        seen(d.in_netns(&["busybox", "nc", "127.0.0.1", "8080"])).is_some()
    });
    // From outside, by DNAT: the container sees the outside client's own address.
    let from_outside = out.run(&["busybox", "nc", "-w", "5", HOST_IP, "8080"]);
    assert_eq!(seen(from_outside).as_deref(), Some(OUTSIDE_IP));
    // From the host on its own address, and from another container (the proxy).
    assert!(seen(d.in_netns(&["busybox", "nc", "-w", "5", HOST_IP, "8080"])).is_some());
    let from_peer = d.docker(&["run", "--rm", IMG, "nc", "-w", "5", HOST_IP, "8080"]);
    assert!(seen(from_peer).is_some(), "a container reaches another's published port");
    // Wharf's table holds the DNAT while the container runs, and not after.
    let r = rules(&d);
    assert!(r.contains(&ip) && r.contains("8080"), "{r}");
    // The debug view shows the same table.
    let shown = text(&d.wharf(&["network", "rules"]));
    assert!(shown.starts_with("# firewall: nftables\n") && shown.contains(&ip) && shown.contains("8080"), "{shown}");
    d.ok(&["rm", "-f", "web"]);
    let r = rules(&d);
    assert!(!r.contains(&ip) && !r.contains("8080"), "{r}");
    // Nothing of the containers is left: no sandbox, and no veth once the
    // kernel has taken the namespace (in its own time, off the stop path).
    eventually("the kernel took the pair with the namespace", || {
        !text(&d.in_netns(&["ip", "-o", "link"])).contains("veth")
    });
    let sandboxes = std::fs::read_dir(d.dir.path().join("exec/netns")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(sandboxes, 0, "sandboxes left");
}

#[test]
fn user_networks_are_isolated_and_internal_ones_have_no_egress() {
    let d = Daemon::start();
    d.import_busybox();
    let mut out = Outside::new(&d);
    out.serve(7001);
    for (name, flags) in [("na", &[][..]), ("nb", &[][..]), ("ni", &["--internal"][..])] {
        let mut args = vec!["network", "create"];
        args.extend_from_slice(flags);
        args.push(name);
        d.ok(&args);
    }
    let b = web(&d, "b", &["--network", "nb"]);
    let reach = |net: &str, ip: &str, port: &str| {
        let o = d.docker(&["run", "--rm", "--network", net, IMG, "nc", "-w", "3", ip, port]);
        !text(&o).trim().is_empty()
    };
    eventually("b serves on its network", || reach("nb", &b, "80"));
    // The host routes both subnets: only the firewall keeps na from nb.
    assert!(!reach("na", &b, "80"), "a container on another network reaches b");
    assert!(reach("na", OUTSIDE_IP, "7001"), "a user network has egress");
    assert!(!reach("ni", OUTSIDE_IP, "7001"), "an internal network has egress");
    let r = rules(&d);
    assert!(r.contains("elements"), "{r}");
    d.ok(&["rm", "-f", "b"]);
    for n in ["na", "nb", "ni"] {
        d.ok(&["network", "rm", n]);
    }
    let r = rules(&d);
    for gone in ["br-", &b] {
        assert!(!r.contains(gone), "{gone} left in {r}");
    }
}

#[test]
fn a_crashed_daemon_keeps_connectivity_and_its_restart_keeps_exactly_what_exists() {
    let mut d = Daemon::start();
    d.import_busybox();
    let out = Outside::new(&d);
    let ip = web(&d, "web", &["-p", "8081:80"]);
    let from_outside = || client_seen(&text(&out.run(&["busybox", "nc", "-w", "5", HOST_IP, "8081"])), 80);
    eventually("the port answers from outside", || from_outside().is_some());
    d.kill9();
    assert_eq!(from_outside().as_deref(), Some(OUTSIDE_IP), "the DNAT outlives the daemon");
    // A stale rule (as a crash between a container's exit and its teardown
    // would leave) goes at the restart; the running container's stays.
    let stale = "add element inet wharf any_addr { tcp . 9999 : 10.99.0.2 }";
    assert!(d.in_netns(&["nft", stale]).status.success());
    d.spawn();
    let r = rules(&d);
    assert!(r.contains(&ip) && r.contains("8081") && !r.contains("9999"), "{r}");
    assert_eq!(from_outside().as_deref(), Some(OUTSIDE_IP));
    d.ok(&["rm", "-f", "web"]);
    assert!(!rules(&d).contains(&ip));
}

#[test]
fn bridge_options_set_the_mtu_keep_containers_apart_and_skip_masquerade() {
    let d = Daemon::start();
    d.import_busybox();
    let mut out = Outside::new(&d);
    out.serve(7002);
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.77.0.0/24",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "closed",
    ]);
    let b = web(&d, "b", &["--network", "closed"]);
    assert_eq!(d.ok(&["run", "--rm", "--network", "closed", IMG, "cat", "/sys/class/net/eth0/mtu"]).trim(), "1400");
    // The host reaches b; another container of the network does not (no icc).
    eventually("b serves", || client_seen(&text(&d.in_netns(&["busybox", "nc", "-w", "3", &b, "80"])), 80).is_some());
    let peer = d.docker(&["run", "--rm", "--network", "closed", IMG, "nc", "-w", "3", &b, "80"]);
    assert!(text(&peer).trim().is_empty(), "a container reached its network's peer: {peer:?}");
    // No masquerade: with a route back, the outside world sees the container's own address.
    assert!(out.run(&["ip", "route", "add", "10.77.0.0/24", "via", HOST_IP]).status.success());
    let answer = d.ok(&["run", "--rm", "--network", "closed", IMG, "nc", "-w", "5", OUTSIDE_IP, "7002"]);
    let seen = client_seen(&answer, 7002).unwrap_or_default();
    assert!(seen.starts_with("10.77.0."), "{answer}");
    d.ok(&["rm", "-f", "b"]);
    d.ok(&["network", "rm", "closed"]);
    let r = rules(&d);
    assert!(!r.contains("br-"), "{r}");
}

#[test]
fn without_the_userland_proxy_the_kernel_serves_every_path() {
    let d = Daemon::start_with_args(&["--userland-proxy=false"]);
    d.import_busybox();
    let out = Outside::new(&d);
    let ip = web(&d, "web", &["-p", "8083:80"]);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "web"]);
    // No proxy process serves the port.
    let ps = String::from_utf8_lossy(&Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout).into_owned();
    assert!(!ps.lines().any(|l| l.contains("proxy") && l.contains(":8083")), "{ps}");
    let seen = |o: Output| client_seen(&text(&o), 80);
    // Loopback (masqueraded out of the bridge: the container sees the gateway).
    eventually("127.0.0.1 reaches the port by DNAT", || {
        seen(d.in_netns(&["busybox", "nc", "-w", "3", "127.0.0.1", "8083"])).is_some()
    });
    assert_eq!(seen(out.run(&["busybox", "nc", "-w", "5", HOST_IP, "8083"])).as_deref(), Some(OUTSIDE_IP));
    assert!(seen(d.in_netns(&["busybox", "nc", "-w", "5", HOST_IP, "8083"])).is_some());
    let from_peer = d.docker(&["run", "--rm", IMG, "nc", "-w", "5", HOST_IP, "8083"]);
    assert!(seen(from_peer).is_some(), "a container reaches another's published port (hairpin DNAT)");
    let r = rules(&d);
    assert!(r.contains("127.0.0.0/8") && r.contains(&ip) && r.contains("ct status dnat"), "{r}");
    host_loopback_stays_closed_to_containers(&d);
    d.ok(&["rm", "-f", &id.trim()[..12]]);
    assert!(!rules(&d).contains(&ip));
}

/// The bridges route 127.0.0.0/8 (`route_localnet`) for the replies of
/// DNATed loopback connections, not for a container's own packets: one
/// with NET_ADMIN that routes 127.0.0.0/8 to its gateway does not reach a
/// service of the host's loopback (it reaches the same service on the
/// gateway's address, so the service and the path are there).
fn host_loopback_stays_closed_to_containers(d: &Daemon) {
    struct Server(Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Server(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", d.netns))
            .args(["busybox", "nc", "-ll", "-p", "7300", "-e", "echo", "reached"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the host's server listens", || text(&d.in_netns(&["busybox", "netstat", "-tln"])).contains(":7300 "));
    let script = "gw=$(ip route | awk '/default/ {print $3}'); \
        echo | nc -w 3 $gw 7300; \
        ip addr del 127.0.0.1/8 dev lo && ip route add 127.0.0.0/8 via $gw dev eth0 && echo routed; \
        echo | nc -w 3 127.0.0.1 7300; true";
    let out = d.docker(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        "--sysctl",
        "net.ipv4.conf.all.route_localnet=1",
        IMG,
        "sh",
        "-c",
        script,
    ]);
    let said = text(&out);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines, ["reached", "routed"], "{said}{}", String::from_utf8_lossy(&out.stderr));
}
