//! /volumes: create, list, inspect, remove, prune (local driver).

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_engine::volumes::Volume;

use super::{blocking, json, read_json, status, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    labels: BTreeMap<String, String>,
    driver_opts: Option<BTreeMap<String, String>>,
}

fn view(v: &Volume) -> Value {
    json!({"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint, "CreatedAt": v.created_at, "Labels": v.labels, "Scope": v.scope, "Options": {}})
}

/// Docker's volume filters: `name` (substring), `label` (`key` or
/// `key=value`, all must match), `driver`, `dangling` (`true`/`false`: used
/// by no container or by some). Any other key is refused.
fn matching(filters: &BTreeMap<String, Vec<String>>, v: &Volume, users: impl Fn() -> usize) -> Result<bool, ApiError> {
    for (k, vals) in filters {
        let ok = match k.as_str() {
            "name" => vals.iter().any(|n| v.name.contains(n.as_str())),
            "label" => {
                wharf_engine::events::key_matches(k, vals, |l| wharf_engine::events::label_matches(&v.labels, l))
            }
            "driver" => vals.contains(&v.driver),
            "dangling" => {
                let want = |x: &String| match x.as_str() {
                    "true" | "1" => Ok(true),
                    "false" | "0" => Ok(false),
                    other => Err(ApiError::bad_request(format!("Invalid filter 'dangling={other}'"))),
                };
                let dangling = users() == 0;
                let mut any = false;
                for x in vals {
                    any |= want(x)? == dangling;
                }
                any
            }
            other => return Err(ApiError::bad_request(format!("Invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, seg: &[&str], q: &Query) -> Reply {
    let st = state.clone();
    match (method, &seg[1..]) {
        (&Method::GET, []) => {
            let filters = q.filters()?;
            let vols = blocking(move || {
                let mut out = Vec::new();
                for v in st.engine.list_volumes()? {
                    let users = || st.engine.volume_users(&v.name).map(|u| u.len()).unwrap_or(0);
                    if matching(&filters, &v, users)? {
                        out.push(v);
                    }
                }
                Ok(out)
            })
            .await?;
            json(StatusCode::OK, &json!({"Volumes": vols.iter().map(view).collect::<Vec<_>>(), "Warnings": []}))
        }
        (&Method::POST, ["create"]) => {
            let body: CreateBody = read_json(req).await?;
            if !body.driver.is_empty() && body.driver != "local" {
                // Docker's answer for a plugin it cannot find.
                return Err(ApiError::not_found(format!(
                    "error looking up volume plugin {}: plugin {:?} not found",
                    body.driver, body.driver
                )));
            }
            // The local driver's mount options (type, device, o) would mount
            // something else than a directory: not done, so refused by name.
            if let Some(k) = body.driver_opts.iter().flatten().map(|(k, _)| k).next() {
                return Err(ApiError::bad_request(format!(
                    "DriverOpts {k}: volume driver options are not supported by Wharf's local driver"
                )));
            }
            let v = blocking(move || {
                Ok(st.engine.create_volume(Some(body.name.as_str()).filter(|n| !n.is_empty()), body.labels)?)
            })
            .await?;
            json(StatusCode::CREATED, &view(&v))
        }
        (&Method::POST, ["prune"]) => {
            // API 1.41 prunes every unused volume; `all=false` (as API 1.42
            // has it) only the anonymous ones.
            let f = super::prune::PruneFilter::parse(q, false, &["all"])?;
            let named_too = super::prune::bool_filter(&f.extra, "all")?.unwrap_or(true);
            let (names, bytes) = blocking(move || {
                // Sizes first: what is removed is what was reclaimed.
                let mut sizes = BTreeMap::new();
                for v in st.engine.list_volumes()? {
                    if f.selects(&v.labels, None) && (named_too || v.anonymous) {
                        sizes.insert(v.name.clone(), wharf_engine::volumes::disk_size(&v.mountpoint));
                    }
                }
                let names = st.engine.prune_volumes_where(&|v| sizes.contains_key(&v.name))?;
                let bytes: u64 = names.iter().filter_map(|n| sizes.get(n)).sum();
                Ok((names, bytes))
            })
            .await?;
            json(StatusCode::OK, &json!({"VolumesDeleted": names, "SpaceReclaimed": bytes}))
        }
        (&Method::GET, [name]) => {
            let name = name.to_string();
            let v = blocking(move || Ok(st.engine.volume(&name)?)).await?;
            json(StatusCode::OK, &view(&v))
        }
        (&Method::DELETE, [name]) => {
            let force = req.uri().query().is_some_and(|q| q.contains("force=1") || q.contains("force=true"));
            let name = name.to_string();
            blocking(move || Ok(st.engine.remove_volume(&name, force)?)).await?;
            status(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::not_found(format!("page not found: {method} /{}", seg.join("/")))),
    }
}
