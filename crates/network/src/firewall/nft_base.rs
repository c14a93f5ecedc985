//! The fixed part of Wharf's nftables table: its sets, maps, chains and
//! rules, in nft's JSON schema (what `nft -j list table inet wharf` prints
//! of them). Everything that changes at run time is an element of a set or
//! map here; `nftables.rs` explains what each one holds.

use serde_json::{json, Value};

/// The objects of table `inet <table>`, to be added after the table itself.
/// With `userland_proxy` (Docker's default) connections to 127.0.0.1 and
/// from containers are the proxy's; without, the kernel serves every path:
/// DNAT for loopback and container clients too, masquerading what comes
/// from the host's loopback (the bridges route it: `route_localnet`) and
/// what a DNAT sends back into the network it came from (hairpin).
pub(crate) fn structure(table: &str, userland_proxy: bool) -> Value {
    let t = |kind: &str, name: &str, body: Value| {
        let mut o = json!({"family": "inet", "table": table, "name": name});
        o.as_object_mut().expect("object").extend(body.as_object().expect("object").clone());
        json!({"add": {kind: o}})
    };
    let rule = |chain: &str, expr: Value| json!({"add": {"rule": {"family": "inet", "table": table, "chain": chain, "expr": expr}}});
    let meta = |key: &str| json!({"meta": {"key": key}});
    let is = |left: Value, right: Value| json!({"match": {"op": "==", "left": left, "right": right}});
    let not = |left: Value, right: Value| json!({"match": {"op": "!=", "left": left, "right": right}});
    let ip = |field: &str| json!({"payload": {"protocol": "ip", "field": field}});
    let dport = json!({"payload": {"protocol": "th", "field": "dport"}});
    let local = is(json!({"fib": {"result": "type", "flags": ["daddr"]}}), json!("local"));
    let pair = json!({"concat": [meta("iifname"), meta("oifname")]});
    let dnat_family = |family: &str, key: Value, addr: &str, port: &str| {
        let map = |data: String| json!({"map": {"key": key.clone(), "data": data}});
        json!({"dnat": {"family": family, "addr": map(format!("@{addr}")), "port": map(format!("@{port}"))}})
    };
    let dnat = |key: Value, maps: &str| dnat_family("ip", key, &format!("{maps}_addr"), &format!("{maps}_port"));
    let ip6 = |field: &str| json!({"payload": {"protocol": "ip6", "field": field}});
    let base =
        |hook: &str, kind: &str, prio: i32| json!({"type": kind, "hook": hook, "prio": prio, "policy": "accept"});
    let mut rules = vec![
        // Published ports: DNAT for traffic to a local address (not loopback, not from a container).
        rule("prerouting", json!([local.clone(), {"jump": {"target": "ports"}}])),
    ];
    if userland_proxy {
        rules.extend([
            rule("output", json!([not(ip("daddr"), json!({"prefix": {"addr": "127.0.0.0", "len": 8}})), local.clone(), {"jump": {"target": "ports"}}])),
            rule("output", json!([not(ip6("daddr"), json!("::1")), local.clone(), {"jump": {"target": "ports"}}])),
            rule("ports", json!([is(meta("iifname"), json!("@bridges")), {"return": null}])),
        ]);
    } else {
        let dnat_status = json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}});
        rules.extend([
            rule("output", json!([is(meta("nfproto"), json!("ipv4")), local.clone(), {"jump": {"target": "ports"}}])),
            // IPv6 has no route_localnet: ::1 stays on the host.
            rule("output", json!([not(ip6("daddr"), json!("::1")), local.clone(), {"jump": {"target": "ports"}}])),
            rule("postrouting", json!([is(ip("saddr"), json!({"prefix": {"addr": "127.0.0.0", "len": 8}})), is(meta("oifname"), json!("@bridges")), {"masquerade": null}])),
            rule("postrouting", json!([dnat_status, is(pair.clone(), json!("@same")), {"masquerade": null}])),
            // The bridges route 127.0.0.0/8 for those replies only: a
            // container's own packets to the host's loopback (crafted with
            // NET_RAW) are dropped, never delivered to a 127.0.0.1 service.
            rule("input", json!([is(meta("iifname"), json!("@bridges")), is(ip("daddr"), json!({"prefix": {"addr": "127.0.0.0", "len": 8}})), not(json!({"ct": {"key": "state"}}), json!({"set": ["established", "related"]})), {"drop": null}])),
        ]);
    }
    let mut objects = vec![
        t("set", "bridges", json!({"type": "ifname"})),
        t("set", "subnets", json!({"type": "ipv4_addr", "flags": ["interval"]})),
        t("set", "subnets6", json!({"type": "ipv6_addr", "flags": ["interval"]})),
        t("set", "same", json!({"type": ["ifname", "ifname"]})),
        t("set", "internal", json!({"type": "ifname"})),
        // (bridge . bridge) of networks whose containers may not reach each other.
        t("set", "no_icc", json!({"type": ["ifname", "ifname"]})),
        // Published ports, by (proto . port) or (address . proto . port): the
        // container's address, and its port (two maps: nft 1.0's JSON parser
        // crashes on a concatenated NAT target).
        t("map", "any_addr", json!({"type": ["inet_proto", "inet_service"], "map": "ipv4_addr"})),
        t("map", "any_port", json!({"type": ["inet_proto", "inet_service"], "map": "inet_service"})),
        t("map", "ip_addr", json!({"type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "ipv4_addr"})),
        t("map", "ip_port", json!({"type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "inet_service"})),
        // The same for IPv6 containers of ports published on every address.
        t("map", "any_addr6", json!({"type": ["inet_proto", "inet_service"], "map": "ipv6_addr"})),
        t("map", "any_port6", json!({"type": ["inet_proto", "inet_service"], "map": "inet_service"})),
        t("chain", "ports", json!({})),
        t("chain", "prerouting", base("prerouting", "nat", -100)),
        t("chain", "output", base("output", "nat", -100)),
        t("chain", "postrouting", base("postrouting", "nat", 100)),
        t("chain", "forward", base("forward", "filter", 0)),
    ];
    if !userland_proxy {
        objects.push(t("chain", "input", base("input", "filter", 0)));
    }
    objects.extend(rules);
    objects.extend([
        rule("ports", json!([dnat(json!({"concat": [ip("daddr"), meta("l4proto"), dport.clone()]}), "ip")])),
        rule("ports", json!([is(meta("nfproto"), json!("ipv4")), dnat(json!({"concat": [meta("l4proto"), dport.clone()]}), "any")])),
        rule("ports", json!([is(meta("nfproto"), json!("ipv6")), dnat_family("ip6", json!({"concat": [meta("l4proto"), dport]}), "any_addr6", "any_port6")])),
        // Egress: masquerade what leaves a subnet by any other than a Wharf bridge.
        rule("postrouting", json!([is(ip("saddr"), json!("@subnets")), not(meta("oifname"), json!("@bridges")), {"masquerade": null}])),
        rule("postrouting", json!([is(json!({"payload": {"protocol": "ip6", "field": "saddr"}}), json!("@subnets6")), not(meta("oifname"), json!("@bridges")), {"masquerade": null}])),
        // No traffic between the containers of a network without icc (bridged
        // traffic meets this hook through br_netfilter, as Docker's rules do).
        rule("forward", json!([is(pair.clone(), json!("@no_icc")), {"drop": null}])),
        // Isolation between networks; nothing in or out of an internal one.
        rule("forward", json!([is(meta("iifname"), json!("@bridges")), is(meta("oifname"), json!("@bridges")), not(pair.clone(), json!("@same")), {"drop": null}])),
        rule("forward", json!([is(meta("iifname"), json!("@internal")), not(pair.clone(), json!("@same")), {"drop": null}])),
        rule("forward", json!([is(meta("oifname"), json!("@internal")), not(pair, json!("@same")), {"drop": null}])),
    ]);
    json!({ "nftables": objects })
}
