//! The service keys whose values have structure: healthcheck, ports,
//! volumes, ulimits, deploy.

use serde_json::{json, Map, Value as J};

use super::{boolean, integer, list, text, unsupported, Cx};
use crate::error::Result;
use crate::units;
use crate::yaml::{Node, Value};

pub(super) fn healthcheck(v: &Node, path: &str) -> Result<J> {
    let mut h = Map::new();
    if matches!(v.get("disable").map(|d| &d.value), Some(Value::Bool(true))) {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let Value::Map(entries) = &v.value else { return Err(unsupported(v, path, "a mapping")) };
    for (k, x) in entries {
        let p = format!("{path}.{}", k.name);
        let dur = |name: &str, h: &mut Map<String, J>| -> Result<()> {
            let ns = units::duration_ns(x).map_err(|e| unsupported(x, &p, &e))?;
            h.insert(name.into(), json!(ns));
            Ok(())
        };
        match k.name.as_str() {
            "test" => {
                let test = match &x.value {
                    Value::Str(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                    _ => list(x),
                };
                h.insert("Test".into(), json!(test));
            }
            "interval" => dur("Interval", &mut h)?,
            "timeout" => dur("Timeout", &mut h)?,
            "start_period" => dur("StartPeriod", &mut h)?,
            "start_interval" => dur("StartInterval", &mut h)?,
            "retries" => {
                h.insert("Retries".into(), json!(integer(x).map_err(|e| unsupported(x, &p, &e))?));
            }
            "disable" => {}
            _ => return Err(unsupported(x, &p, "not a healthcheck key")),
        }
    }
    Ok(J::Object(h))
}

/// `a-b` → [a..=b]; `a` → [a].
fn range(s: &str) -> Option<Vec<u16>> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then(|| (a..=b).collect())
        }
        None => s.parse().ok().map(|p| vec![p]),
    }
}

pub(super) fn ports(v: &Node, path: &str, exposed: &mut Map<String, J>, bindings: &mut Map<String, J>) -> Result<()> {
    let Value::Seq(items) = &v.value else { return Err(unsupported(v, path, "a list")) };
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let bad = |why: &str| unsupported(item, &p, why);
        let (ip, published, target, proto) = match &item.value {
            Value::Map(_) => {
                if let Some(mode) = item.get("mode").and_then(Node::as_str).filter(|m| *m != "host" && *m != "ingress")
                {
                    return Err(bad(&format!("mode {mode:?}")));
                }
                let field = |k: &str| item.get(k).and_then(text).unwrap_or_default();
                (
                    field("host_ip"),
                    field("published"),
                    field("target"),
                    item.get("protocol").and_then(text).unwrap_or_else(|| "tcp".into()),
                )
            }
            _ => {
                let s = text(item).ok_or_else(|| bad("a port"))?;
                let (spec, proto) = s
                    .rsplit_once('/')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or((s.clone(), "tcp".into()));
                let (ip, rest) = match spec.strip_prefix('[').and_then(|r| r.split_once("]:")) {
                    Some((ip, rest)) => (ip.to_string(), rest.to_string()),
                    None => (String::new(), spec.clone()),
                };
                let parts: Vec<&str> = rest.split(':').collect();
                match parts.as_slice() {
                    [t] => (ip, String::new(), t.to_string(), proto),
                    [pb, t] => (ip, pb.to_string(), t.to_string(), proto),
                    [i, pb, t] if ip.is_empty() => (i.to_string(), pb.to_string(), t.to_string(), proto),
                    _ => return Err(bad(&format!("{s:?} is not [ip:][published:]target[/protocol]"))),
                }
            }
        };
        if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
            return Err(bad(&format!("protocol {proto:?}")));
        }
        let targets = range(&target).ok_or_else(|| bad(&format!("target port {target:?}")))?;
        let published: Vec<String> = if published.is_empty() {
            vec![String::new(); targets.len()]
        } else {
            let p = range(&published).ok_or_else(|| bad(&format!("published port {published:?}")))?;
            if p.len() != targets.len() && p.len() != 1 {
                return Err(bad("the published and target ranges differ in length"));
            }
            if p.len() == 1 && targets.len() > 1 {
                return Err(bad("one published port for a range of targets"));
            }
            p.iter().map(u16::to_string).collect()
        };
        for (t, pb) in targets.iter().zip(published) {
            let key = format!("{t}/{proto}");
            exposed.insert(key.clone(), json!({}));
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({"HostIp": ip, "HostPort": pb}));
            }
        }
    }
    Ok(())
}

/// A named volume's full name (`proj_data`, the volume's `name:`, an
/// external one's own); one the file does not declare is an error.
fn volume_name(cx: &Cx, item: &Node, path: &str, name: &str) -> Result<String> {
    match cx.volumes.iter().find(|(k, _)| k == name) {
        Some((_, full)) => Ok(full.clone()),
        None => Err(unsupported(item, path, &format!("refers to undefined volume {name}"))),
    }
}

pub(super) fn volumes(cx: &Cx, v: &Node, path: &str, mounts: &mut Vec<J>, binds: &mut Vec<J>) -> Result<()> {
    let Value::Seq(items) = &v.value else { return Err(unsupported(v, path, "a list")) };
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let bad = |why: &str| unsupported(item, &p, why);
        match &item.value {
            Value::Str(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, target, mode) = match parts.as_slice() {
                    [t] => (None, *t, ""),
                    [s, t] => (Some(*s), *t, ""),
                    [s, t, m] => (Some(*s), *t, *m),
                    _ => return Err(bad(&format!("{s:?} is not [source:]target[:mode]"))),
                };
                for m in mode.split(',').filter(|m| !m.is_empty()) {
                    if !["ro", "rw", "nocopy"].contains(&m) {
                        return Err(bad(&format!("volume mode {m:?}")));
                    }
                }
                let ro = mode.split(',').any(|m| m == "ro");
                match src {
                    // Paths were made absolute at load: a bind, created if missing (as Docker's Binds).
                    Some(src) if src.starts_with('/') => binds.push(json!(format!("{src}:{target}{}", if ro { ":ro" } else { "" }))),
                    Some(name) => mounts.push(json!({"Type": "volume", "Source": volume_name(cx, item, &p, name)?, "Target": target, "ReadOnly": ro,
                        "VolumeOptions": {"NoCopy": mode.split(',').any(|m| m == "nocopy")}})),
                    None => mounts.push(json!({"Type": "volume", "Target": target})),
                }
            }
            Value::Map(_) => {
                let f = |k: &str| item.get(k).and_then(text);
                let kind = f("type").unwrap_or_else(|| "volume".into());
                let target = f("target").ok_or_else(|| bad("a target"))?;
                let ro = match item.get("read_only") {
                    Some(r) => boolean(r).map_err(|e| bad(&e))?,
                    None => false,
                };
                let mut m = json!({"Type": kind, "Target": target, "ReadOnly": ro});
                match kind.as_str() {
                    "volume" => {
                        if let Some(src) = f("source") {
                            m["Source"] = json!(volume_name(cx, item, &p, &src)?);
                        }
                        let nocopy = item
                            .get("volume")
                            .and_then(|o| o.get("nocopy"))
                            .is_some_and(|n| n.value == Value::Bool(true));
                        m["VolumeOptions"] = json!({"NoCopy": nocopy});
                    }
                    "bind" => {
                        m["Source"] = json!(f("source").ok_or_else(|| bad("a bind needs a source"))?);
                        if let Some(prop) = item.get("bind").and_then(|b| b.get("propagation")).and_then(text) {
                            m["BindOptions"] = json!({"Propagation": prop});
                        }
                    }
                    "tmpfs" => {
                        if let Some(size) = item.get("tmpfs").and_then(|t| t.get("size")) {
                            m["TmpfsOptions"] = json!({"SizeBytes": units::bytes(size).map_err(|e| bad(&e))?});
                        }
                    }
                    other => return Err(bad(&format!("volume type {other:?}"))),
                }
                mounts.push(m);
            }
            _ => return Err(bad("a volume is a string or a mapping")),
        }
    }
    Ok(())
}

pub(super) fn ulimits(v: &Node, path: &str) -> Result<J> {
    let Value::Map(entries) = &v.value else { return Err(unsupported(v, path, "a mapping")) };
    let mut out = Vec::new();
    for (k, x) in entries {
        let (soft, hard) = match &x.value {
            Value::Int(_) | Value::Str(_) => {
                let n = integer(x).map_err(|e| unsupported(x, &format!("{path}.{}", k.name), &e))?;
                (n, n)
            }
            Value::Map(_) => {
                let get = |f: &str| {
                    x.get(f)
                        .and_then(|n| integer(n).ok())
                        .ok_or_else(|| unsupported(x, &format!("{path}.{}", k.name), "soft and hard limits"))
                };
                (get("soft")?, get("hard")?)
            }
            _ => return Err(unsupported(x, &format!("{path}.{}", k.name), "a limit or {soft, hard}")),
        };
        out.push(json!({"Name": k.name, "Soft": soft, "Hard": hard}));
    }
    Ok(J::Array(out))
}

pub(super) fn deploy(v: &Node, path: &str, host: &mut Map<String, J>) -> Result<()> {
    let Value::Map(entries) = &v.value else { return Err(unsupported(v, path, "a mapping")) };
    for (k, x) in entries {
        let p = format!("{path}.{}", k.name);
        match k.name.as_str() {
            "replicas" => {}
            "resources" => {
                let Value::Map(kinds) = &x.value else { return Err(unsupported(x, &p, "a mapping")) };
                for (kind, r) in kinds {
                    let Value::Map(res) = &r.value else { continue };
                    for (name, val) in res {
                        let rp = format!("{p}.{}.{}", kind.name, name.name);
                        match (kind.name.as_str(), name.name.as_str()) {
                            ("limits", "memory") => host.insert(
                                "Memory".into(),
                                json!(units::bytes(val).map_err(|e| unsupported(val, &rp, &e))?),
                            ),
                            ("limits", "cpus") => {
                                let c: f64 = text(val)
                                    .and_then(|t| t.parse().ok())
                                    .ok_or_else(|| unsupported(val, &rp, "a number of CPUs"))?;
                                host.insert("NanoCpus".into(), json!((c * 1e9) as i64))
                            }
                            ("limits", "pids") => host.insert(
                                "PidsLimit".into(),
                                json!(text(val).and_then(|t| t.parse::<i64>().ok()).ok_or_else(|| unsupported(
                                    val,
                                    &rp,
                                    "an integer"
                                ))?),
                            ),
                            ("reservations", "memory") => host.insert(
                                "MemoryReservation".into(),
                                json!(units::bytes(val).map_err(|e| unsupported(val, &rp, &e))?),
                            ),
                            _ => return Err(unsupported(val, &rp, "not supported by wharf compose yet")),
                        };
                    }
                }
            }
            _ => return Err(unsupported(x, &p, "not supported by wharf compose yet (swarm deploy)")),
        }
    }
    Ok(())
}
