//! The `cni` driver through `wharf daemon` with Debian's standard plugins
//! (containernetworking-plugins in /usr/lib/cni): bridge + host-local, and
//! tuning chained after them (it needs the previous result); names served
//! on the network; --ip and --mac-address as capability arguments; DEL
//! after a daemon crash frees the lease.

use crate::nat::text;
use crate::support::daemon::Daemon;

const IMG: &str = "busybox:local";

#[test]
fn standard_plugins_wire_containers_and_del_works_after_a_restart() {
    if !std::path::Path::new("/usr/lib/cni/bridge").exists() {
        panic!("containernetworking-plugins is not installed: ./scripts/deps.sh test");
    }
    let mut d = Daemon::start();
    d.import_busybox();
    let leases = d.dir.path().join("cni-leases");
    let list = d.dir.path().join("cninet.conflist");
    let conf = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "cninet",
        "plugins": [
            {"type": "bridge", "bridge": "wcni0", "isGateway": true, "ipMasq": false,
             "capabilities": {"ips": true, "mac": true},
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.79.0.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": leases}},
            {"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}},
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    });
    std::fs::write(&list, conf.to_string()).unwrap();
    d.ok(&["network", "create", "-d", "cni", "-o", &format!("cni.conflist={}", list.display()), "cninet"]);
    d.ok(&["run", "-d", "--name", "a", "--network", "cninet", IMG, "sleep", "1000"]);
    let ip =
        d.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "a"]).trim().to_string();
    assert!(ip.starts_with("10.79.0."), "{ip}");
    let lease = leases.join("cninet").join(&ip);
    assert!(lease.exists(), "host-local leased {ip}");
    // The chain: tuning ran after bridge (in the container's namespace).
    assert_eq!(d.ok(&["exec", "a", "cat", "/proc/sys/net/core/somaxconn"]).trim(), "512");
    assert!(
        d.docker(&["exec", "a", "ping", "-c", "1", "-W", "3", "10.79.0.1"]).status.success(),
        "the gateway answers"
    );
    // The resolver serves cni networks too.
    d.ok(&["run", "-d", "--name", "b", "--network", "cninet", IMG, "sleep", "1000"]);
    let answer = text(&d.docker(&["exec", "b", "nslookup", "a"]));
    assert!(answer.contains(&format!("Address: {ip}")), "{answer}");
    // --ip and --mac-address reach host-local and bridge (their `ips` and `mac` capabilities).
    let fixed = ["--ip", "10.79.0.50", "--mac-address", "02:42:0a:4f:00:32"];
    let mut args = vec!["run", "-d", "--name", "s", "--network", "cninet"];
    args.extend(fixed);
    args.extend([IMG, "sleep", "1000"]);
    // wharf's CLI (docker 28's asks API 1.44 for a MAC address with --network).
    d.w(&args);
    let link = d.ok(&["exec", "s", "ip", "addr", "show", "eth0"]);
    assert!(link.contains("inet 10.79.0.50/24") && link.contains("link/ether 02:42:0a:4f:00:32"), "{link}");
    assert!(leases.join("cninet").join("10.79.0.50").exists());
    d.ok(&["rm", "-f", "s"]);
    assert!(!leases.join("cninet").join("10.79.0.50").exists(), "DEL freed the fixed address");
    // portmap publishes the port (it asks for the mappings): no Wharf proxy serves it.
    let serve = [IMG, "nc", "-ll", "-p", "80", "-e", "echo", "from-web"];
    let mut args = vec!["run", "-d", "--name", "web", "--network", "cninet", "-p", "8086:80"];
    args.extend(serve);
    d.ok(&args);
    let ps = String::from_utf8_lossy(&std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout)
        .into_owned();
    assert!(!ps.lines().any(|l| l.contains("proxy") && l.contains(":8086")), "{ps}");
    crate::support::eventually("portmap's DNAT answers on the gateway address", || {
        text(&d.in_netns(&["busybox", "nc", "-w", "3", "10.79.0.1", "8086"])).contains("from-web")
    });
    assert!(d.ok(&["port", "web"]).contains("8086"));
    d.ok(&["rm", "-f", "web"]);
    // A crash, then removal: DEL from the cached result frees the lease.
    d.kill9();
    d.spawn();
    d.ok(&["rm", "-f", "a"]);
    assert!(!lease.exists(), "the lease of {ip} was not freed");
    d.ok(&["rm", "-f", "b"]);
    d.ok(&["network", "rm", "cninet"]);
    // Bad input: no list, a list that does not parse.
    assert!(!d.docker(&["network", "create", "-d", "cni", "nolist"]).status.success());
    std::fs::write(&list, "{").unwrap();
    let bad = d.docker(&["network", "create", "-d", "cni", "-o", &format!("cni.conflist={}", list.display()), "bad"]);
    assert!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("CNI configuration list"),
        "{bad:?}"
    );
}
