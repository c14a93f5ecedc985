//! The CNI driver on the fake host and fake plugins: chaining, caching,
//! DEL after a restart, CHECK, refusals. No root needed.

use std::sync::Arc;

use super::fake::FakePlugins;
use super::*;
use crate::firewall::RecordingFirewall;
use crate::sys::fake::FakeHost;
use crate::{CreateRequest, Drivers, EndpointRequest, Networks};

struct Env {
    dir: tempfile::TempDir,
    host: FakeHost,
    plugins: FakePlugins,
    nets: Networks,
}

fn open(dir: &Path, host: &FakeHost, plugins: &FakePlugins) -> Networks {
    let h: Arc<dyn Host> = Arc::new(host.clone());
    let fw = Arc::new(RecordingFirewall::new());
    let cni = Cni::new(dir.join("cni"), h.clone(), Arc::new(plugins.clone()));
    Networks::open_with(dir, h.clone(), fw.clone(), Drivers::builtin(h, fw).with(Arc::new(cni))).unwrap()
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (host, plugins) = (FakeHost::new(), FakePlugins::new());
    let nets = open(dir.path(), &host, &plugins);
    Env { dir, host, plugins, nets }
}

const LIST: &str = r#"{"cniVersion": "1.0.0", "name": "podnet", "plugins": [
    {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}},
    {"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}}]}"#;

impl Env {
    fn list(&self, text: &str) -> String {
        let p = self.dir.path().join(format!("list-{}.conflist", text.len()));
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn create(&self, name: &str, text: &str) -> Result<Network> {
        let path = self.list(text);
        self.nets.create(CreateRequest {
            name: name.into(),
            driver: Some("cni".into()),
            options: [(CONFLIST_OPTION.to_string(), path)].into_iter().collect(),
            ..Default::default()
        })
    }

    fn sandbox(&self, n: u8) -> String {
        let id = format!("{n:02}{}", "c".repeat(62));
        self.nets.create_sandbox(&id).unwrap();
        id
    }
}

#[test]
fn add_chains_results_and_del_reverses_with_the_cached_one() {
    let e = env();
    let n = e.create("pods", LIST).unwrap();
    let a = e.sandbox(1);
    let ep = e.nets.connect(&a, "a", "pods", &EndpointRequest::default()).unwrap();
    assert_eq!(
        (ep.ip.as_str(), ep.prefix, ep.gateway.as_str(), ep.mac.as_str()),
        ("10.88.0.2", 16, "10.88.0.1", "0a:58:0a:58:00:02")
    );
    let calls = e.plugins.calls();
    let seen: Vec<(&str, &str)> = calls.iter().map(|c| (c.plugin.as_str(), c.call.command)).collect();
    assert_eq!(seen, [("bridge", "ADD"), ("tuning", "ADD")]);
    let first = &calls[0];
    assert_eq!((first.call.ifname.as_str(), first.call.container_id.as_str()), ("eth0", a.as_str()));
    assert_eq!(first.call.netns, e.host.netns_path(&Networks::sandbox_name(&a)).display().to_string());
    assert_eq!((first.stdin["name"].as_str(), first.stdin["cniVersion"].as_str()), (Some("podnet"), Some("1.0.0")));
    assert!(first.stdin.get("prevResult").is_none());
    assert_eq!(calls[1].stdin["prevResult"]["ips"][0]["address"], "10.88.0.2/16", "the second gets the first's result");
    // A daemon restart: a new driver over the same directory still has the result.
    let nets = open(e.dir.path(), &e.host, &e.plugins);
    nets.disconnect(&a, "pods").unwrap();
    let calls = e.plugins.calls();
    let dels: Vec<&super::fake::Recorded> = calls.iter().filter(|c| c.call.command == "DEL").collect();
    assert_eq!(dels.iter().map(|c| c.plugin.as_str()).collect::<Vec<_>>(), ["tuning", "bridge"], "reverse order");
    assert!(dels.iter().all(|c| c.stdin["prevResult"]["ips"][0]["address"] == "10.88.0.2/16"));
    assert!(!e.dir.path().join("cni/results").join(format!("{}-{a}-eth0.json", n.id)).exists());
    e.nets.remove("pods").unwrap();
    assert!(!e.dir.path().join(format!("cni/{}.conflist", n.id)).exists());
}

#[test]
fn a_failed_add_is_undone_and_records_nothing() {
    let e = env();
    e.create("pods", LIST).unwrap();
    let a = e.sandbox(1);
    e.plugins.fail("tuning", "ADD");
    let err = e.nets.connect(&a, "a", "pods", &EndpointRequest::default()).unwrap_err();
    assert!(matches!(&err, NetworkError::Cni { plugin, code: 11, .. } if plugin == "tuning"), "{err:?}");
    let dels: Vec<String> =
        e.plugins.calls().into_iter().filter(|c| c.call.command == "DEL").map(|c| c.plugin).collect();
    assert_eq!(dels, ["tuning", "bridge"]);
    assert!(e.nets.endpoints_of(&a).unwrap().is_empty());
}

#[test]
fn check_asks_every_plugin_with_the_cached_result() {
    let e = env();
    e.create("pods", LIST).unwrap();
    let a = e.sandbox(1);
    e.nets.connect(&a, "a", "pods", &EndpointRequest::default()).unwrap();
    e.nets.check(&a).unwrap();
    let checks: Vec<_> = e.plugins.calls().into_iter().filter(|c| c.call.command == "CHECK").collect();
    assert_eq!(checks.iter().map(|c| c.plugin.as_str()).collect::<Vec<_>>(), ["bridge", "tuning"]);
    assert!(checks.iter().all(|c| c.stdin["prevResult"]["ips"][0]["address"] == "10.88.0.2/16"));
    e.plugins.fail("bridge", "CHECK");
    assert!(matches!(e.nets.check(&a), Err(NetworkError::Cni { .. })));
    // CNI 0.3 has no CHECK, and a list may turn it off.
    let old = LIST.replace("1.0.0", "0.3.1");
    e.create("old", &old).unwrap();
    let b = e.sandbox(2);
    e.nets.connect(&b, "b", "old", &EndpointRequest::default()).unwrap();
    let before = e.plugins.calls().len();
    e.nets.check(&b).unwrap();
    assert_eq!(e.plugins.calls().len(), before);
}

#[test]
fn bad_lists_and_requests_are_refused() {
    let e = env();
    for bad in [
        "not json",
        r#"{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}"#,
        r#"{"cniVersion": "0.2.0", "name": "x", "plugins": [{"type": "bridge"}]}"#,
        r#"{"cniVersion": "1.0.0", "name": "x", "plugins": []}"#,
        r#"{"cniVersion": "1.0.0", "name": "x", "plugins": [{"bridge": "cni0"}]}"#,
    ] {
        assert!(matches!(e.create("bad", bad), Err(NetworkError::Invalid { .. })), "{bad}");
    }
    let without = e.nets.create(CreateRequest { name: "x".into(), driver: Some("cni".into()), ..Default::default() });
    assert!(matches!(without, Err(NetworkError::Invalid { .. })));
    let subnet = CreateRequest {
        name: "x".into(),
        driver: Some("cni".into()),
        subnet: Some("10.1.0.0/24".into()),
        options: [(CONFLIST_OPTION.to_string(), e.list(LIST))].into_iter().collect(),
        ..Default::default()
    };
    assert!(matches!(e.nets.create(subnet), Err(NetworkError::Invalid { .. })));
    let ipv6 = CreateRequest {
        name: "x".into(),
        driver: Some("cni".into()),
        enable_ipv6: true,
        options: [(CONFLIST_OPTION.to_string(), e.list(LIST))].into_iter().collect(),
        ..Default::default()
    };
    assert!(matches!(e.nets.create(ipv6), Err(NetworkError::Invalid { .. })), "IPv6 is the plugins' to give");
    let dir = e.dir.path().display().to_string();
    let not_a_file = [(CONFLIST_OPTION.to_string(), dir)].into_iter().collect();
    let r = CreateRequest { name: "x".into(), driver: Some("cni".into()), options: not_a_file, ..Default::default() };
    assert!(matches!(e.nets.create(r), Err(NetworkError::Invalid { .. })));
    assert_eq!(e.nets.list().unwrap().iter().filter(|n| n.driver == "cni").count(), 0, "nothing half-made");
    e.create("pods", LIST).unwrap();
    let a = e.sandbox(1);
    let ip = EndpointRequest { ipv4: Some("10.88.0.9".parse().unwrap()), ..Default::default() };
    assert!(matches!(e.nets.connect(&a, "a", "pods", &ip), Err(NetworkError::Invalid { .. })));
    assert!(e.plugins.calls().is_empty());
}

#[test]
fn port_mappings_go_to_plugins_that_ask_for_them() {
    let e = env();
    let list = r#"{"cniVersion": "1.0.0", "name": "podnet", "plugins": [
        {"type": "bridge", "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": true}}]}"#;
    e.create("pods", list).unwrap();
    let a = e.sandbox(1);
    let port = crate::firewall::PortMapping {
        proto: "tcp".into(),
        host_ip: String::new(),
        host_port: 8080,
        container_ip: std::net::Ipv4Addr::UNSPECIFIED,
        container_port: 80,
        container_ip6: None,
    };
    let req = EndpointRequest { ports: vec![port.clone()], ..Default::default() };
    let ep = e.nets.connect(&a, "a", "pods", &req).unwrap();
    assert_eq!(ep.plugin_ports, std::slice::from_ref(&port), "the plugins publish them, not Wharf");
    let mapped = |c: &super::fake::Recorded| c.stdin.pointer("/runtimeConfig/portMappings").cloned();
    let calls = e.plugins.calls();
    assert_eq!(mapped(&calls[0]), None, "bridge did not ask");
    let want = serde_json::json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}]);
    assert_eq!(mapped(&calls[1]), Some(want.clone()));
    e.nets.disconnect(&a, "pods").unwrap();
    let del = e.plugins.calls().into_iter().find(|c| c.call.command == "DEL" && c.plugin == "portmap").unwrap();
    assert_eq!(mapped(&del), Some(want), "DEL gets them too");
    // A list without the capability: Wharf keeps publishing them itself.
    e.create("plain", LIST).unwrap();
    let b = e.sandbox(2);
    assert!(e.nets.connect(&b, "b", "plain", &req).unwrap().plugin_ports.is_empty());
}

#[test]
fn static_address_and_mac_go_to_the_plugins_that_declare_them() {
    let e = env();
    let list = r#"{"cniVersion": "1.0.0", "name": "podnet", "plugins": [
        {"type": "bridge", "capabilities": {"ips": true, "mac": true}, "ipam": {"type": "host-local"}},
        {"type": "tuning"}]}"#;
    e.create("pods", list).unwrap();
    let a = e.sandbox(1);
    let req = EndpointRequest {
        ipv4: Some("10.88.7.7".parse().unwrap()),
        mac: Some("02:42:0a:58:07:07".into()),
        ..Default::default()
    };
    let ep = e.nets.connect(&a, "a", "pods", &req).unwrap();
    assert_eq!((ep.ip.as_str(), ep.mac.as_str()), ("10.88.7.7", "02:42:0a:58:07:07"));
    let runtime = |c: &super::fake::Recorded| c.stdin.get("runtimeConfig").cloned();
    let want = serde_json::json!({"ips": ["10.88.7.7"], "mac": "02:42:0a:58:07:07"});
    let calls = e.plugins.calls();
    assert_eq!(runtime(&calls[0]), Some(want.clone()));
    assert_eq!(runtime(&calls[1]), None, "tuning did not declare them");
    e.nets.check(&a).unwrap();
    let check = e.plugins.calls().into_iter().find(|c| c.call.command == "CHECK" && c.plugin == "bridge").unwrap();
    assert_eq!(runtime(&check), Some(want.clone()), "CHECK gets them too");
    e.nets.disconnect(&a, "pods").unwrap();
    let del = e.plugins.calls().into_iter().find(|c| c.call.command == "DEL" && c.plugin == "bridge").unwrap();
    assert_eq!(runtime(&del), Some(want), "DEL gets them too");
}

#[test]
fn a_result_without_the_asked_for_mac_undoes_the_add() {
    // tuning declares `mac` but (here) leaves the result as it was.
    let e = env();
    let list = r#"{"cniVersion": "1.0.0", "name": "podnet", "plugins": [
        {"type": "bridge", "ipam": {"type": "host-local"}},
        {"type": "tuning", "capabilities": {"mac": true}}]}"#;
    e.create("pods", list).unwrap();
    let a = e.sandbox(1);
    let req = EndpointRequest { mac: Some("02:42:0a:58:07:07".into()), ..Default::default() };
    assert!(matches!(e.nets.connect(&a, "a", "pods", &req), Err(NetworkError::Cni { .. })));
    let dels: Vec<String> =
        e.plugins.calls().into_iter().filter(|c| c.call.command == "DEL").map(|c| c.plugin).collect();
    assert_eq!(dels, ["tuning", "bridge"], "the whole chain undone");
    assert!(e.nets.endpoints_of(&a).unwrap_or_default().is_empty(), "nothing recorded");
}
