//! /networks: list, inspect, create, remove, prune, connect, disconnect.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_network::{Network, Networks};

use super::{blocking, json, read_json, status, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
    auxiliary_addresses: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    driver: Option<String>,
    config: Option<Vec<IpamConfig>>,
    options: Option<BTreeMap<String, String>>,
}

/// The IPAM request Wharf honours: the default driver, at most one IPv4
/// and one IPv6 pool (subnet, gateway); anything else is refused rather
/// than ignored. Returns (IPv4 pool, IPv6 pool).
fn ipam_pools(ipam: Option<Ipam>) -> Result<(IpamConfig, IpamConfig), ApiError> {
    let Some(ipam) = ipam else { return Ok(Default::default()) };
    if ipam.driver.as_deref().is_some_and(|d| !d.is_empty() && d != "default") {
        return Err(ApiError::bad_request(format!(
            "IPAM.Driver {:?} is not supported by Wharf",
            ipam.driver.unwrap_or_default()
        )));
    }
    if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request("IPAM.Options is not supported by Wharf"));
    }
    let (mut v4, mut v6): (Vec<IpamConfig>, Vec<IpamConfig>) = ipam
        .config
        .unwrap_or_default()
        .into_iter()
        .partition(|p| !p.subnet.as_deref().unwrap_or_default().contains(':'));
    if v4.len() > 1 || v6.len() > 1 {
        return Err(ApiError::bad_request(
            "IPAM.Config: more than one IPv4 or one IPv6 pool is not supported by Wharf",
        ));
    }
    for p in v4.iter().chain(&v6) {
        if p.ip_range.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(ApiError::bad_request("IPAM.Config.IPRange is not supported by Wharf"));
        }
        if p.auxiliary_addresses.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::bad_request("IPAM.Config.AuxiliaryAddresses is not supported by Wharf"));
        }
    }
    Ok((v4.pop().unwrap_or_default(), v6.pop().unwrap_or_default()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    attachable: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    check_duplicate: Option<bool>,
    ingress: bool,
    config_only: bool,
    config_from: Option<Value>,
    scope: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

fn view(n: &Network, nets: &Networks) -> Result<Value, ApiError> {
    let containers: BTreeMap<String, Value> = nets
        .endpoints(&n.id)?
        .into_iter()
        .map(|e| {
            (
                e.container_id.clone(),
                json!({"Name": e.container_name, "EndpointID": e.id, "MacAddress": e.mac,
                       "IPv4Address": format!("{}/{}", e.ip, e.prefix),
                       "IPv6Address": if e.ip6.is_empty() { String::new() } else { format!("{}/{}", e.ip6, e.prefix6) }}),
            )
        })
        .collect();
    let mut config: Vec<Value> = match (&n.subnet, &n.gateway) {
        (Some(s), Some(g)) => vec![json!({"Subnet": s, "Gateway": g})],
        _ => Vec::new(),
    };
    if let (true, Some(s), Some(g)) = (n.enable_ipv6, &n.subnet6, &n.gateway6) {
        config.push(json!({"Subnet": s, "Gateway": g}));
    }
    Ok(json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": n.driver, "EnableIPv6": n.enable_ipv6,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal, "Attachable": n.attachable, "Ingress": false, "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": containers, "Options": n.options, "Labels": n.labels,
    }))
}

fn matches(n: &Network, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        let pred = |v: &String| match k.as_str() {
            "name" => n.name.contains(v.as_str()),
            "id" => n.id.starts_with(v.as_str()),
            "driver" => n.driver == *v,
            "type" => (v == "builtin") == n.predefined(),
            "scope" => v == "local",
            "label" => wharf_engine::events::label_matches(&n.labels, v),
            _ => false,
        };
        wharf_engine::events::key_matches(k, vals, pred)
    })
}

/// `GET /wharf/firewall` (Wharf's own, not Docker's): the backend and
/// every rule Wharf owns, as the backend prints them.
pub async fn firewall(state: Arc<State>) -> Reply {
    let (backend, rules) = blocking(move || {
        let nets = state.engine.networks()?;
        Ok((nets.firewall_backend(), nets.firewall_rules()?))
    })
    .await?;
    json(StatusCode::OK, &json!({"Backend": backend, "Rules": rules}))
}

pub async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, seg: &[&str], q: &Query) -> Reply {
    let st = state.clone();
    match (method, &seg[1..]) {
        (&Method::GET, []) => {
            let filters = q.filters()?;
            for k in filters.keys() {
                if !matches!(k.as_str(), "name" | "id" | "driver" | "type" | "scope" | "label" | "dangling") {
                    return Err(ApiError::bad_request(format!("Invalid filter '{k}'")));
                }
            }
            let out = blocking(move || {
                let nets = st.engine.networks()?;
                nets.list()?
                    .iter()
                    .filter(|n| matches(n, &filters))
                    .map(|n| view(n, &nets))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
            json(StatusCode::OK, &out)
        }
        (&Method::POST, ["create"]) => {
            let b: CreateBody = read_json(req).await?;
            if b.name.is_empty() {
                return Err(ApiError::bad_request("network name is required"));
            }
            let from = b.config_from.as_ref().and_then(|f| f["Network"].as_str()).filter(|n| !n.is_empty());
            if b.ingress || b.config_only || from.is_some() || !matches!(b.scope.as_str(), "" | "local") {
                return Err(ApiError::bad_request(
                    "Ingress, ConfigOnly, ConfigFrom and a scope other than local are swarm features Wharf does not have",
                ));
            }
            let (first, six) = ipam_pools(b.ipam)?;
            let req = wharf_network::CreateRequest {
                name: b.name,
                driver: Some(b.driver),
                subnet: first.subnet.filter(|s| !s.is_empty()),
                gateway: first.gateway.filter(|s| !s.is_empty()),
                enable_ipv6: b.enable_ipv6,
                subnet6: six.subnet.filter(|s| !s.is_empty()),
                gateway6: six.gateway.filter(|s| !s.is_empty()),
                internal: b.internal,
                attachable: b.attachable,
                labels: b.labels.unwrap_or_default(),
                options: b.options.unwrap_or_default(),
                allow_duplicate_name: !b.check_duplicate.unwrap_or(false),
            };
            let n = blocking(move || {
                let n = st.engine.networks()?.create(req)?;
                st.engine.emit(&wharf_engine::network::network_event("create", &n, None));
                Ok(n)
            })
            .await?;
            json(StatusCode::CREATED, &json!({"Id": n.id, "Warning": ""}))
        }
        (&Method::POST, ["prune"]) => {
            let f = super::prune::PruneFilter::parse(q, true, &[])?;
            let removed = blocking(move || {
                let nets = st.engine.networks()?;
                let mut out = Vec::new();
                for n in nets.list()? {
                    let picked = !n.predefined() && f.selects(&n.labels, Some(&n.created));
                    if picked && nets.endpoints(&n.id)?.is_empty() && nets.remove(&n.id).is_ok() {
                        out.push(n.name);
                    }
                }
                Ok(out)
            })
            .await?;
            json(StatusCode::OK, &json!({"NetworksDeleted": removed}))
        }
        (&Method::GET, [key]) => {
            let key = key.to_string();
            let v = blocking(move || {
                let nets = st.engine.networks()?;
                let n = nets.get(&key)?;
                view(&n, &nets)
            })
            .await?;
            json(StatusCode::OK, &v)
        }
        (&Method::DELETE, [key]) => {
            let key = key.to_string();
            blocking(move || {
                let n = st.engine.networks()?.remove(&key)?;
                st.engine.emit(&wharf_engine::network::network_event("destroy", &n, None));
                Ok(())
            })
            .await?;
            status(StatusCode::NO_CONTENT)
        }
        (&Method::POST, [key, action @ ("connect" | "disconnect")]) => {
            let raw: Value = read_json(req).await?;
            super::honoured::check_connect(&raw)?;
            let b: ConnectBody =
                serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
            if b.container.is_empty() {
                return Err(ApiError::bad_request("container is required"));
            }
            let (key, connect) = (key.to_string(), *action == "connect");
            blocking(move || {
                st.engine.networks()?.get(&key)?;
                if connect {
                    let aliases = b.endpoint_config.and_then(|e| e.aliases).unwrap_or_default();
                    st.engine.connect(&b.container, &key, &aliases)?;
                } else {
                    st.engine.disconnect(&b.container, &key)?;
                }
                Ok(())
            })
            .await?;
            status(StatusCode::OK)
        }
        _ => Err(ApiError::not_found(format!("page not found: {method} /{}", seg.join("/")))),
    }
}
