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
use crate::State;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    labels: BTreeMap<String, String>,
}

fn view(v: &Volume) -> Value {
    json!({"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint, "CreatedAt": v.created_at, "Labels": v.labels, "Scope": v.scope, "Options": {}})
}

pub async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, seg: &[&str]) -> Reply {
    let st = state.clone();
    match (method, &seg[1..]) {
        (&Method::GET, []) => {
            let vols = blocking(move || Ok(st.engine.list_volumes()?)).await?;
            json(StatusCode::OK, &json!({"Volumes": vols.iter().map(view).collect::<Vec<_>>(), "Warnings": []}))
        }
        (&Method::POST, ["create"]) => {
            let body: CreateBody = read_json(req).await?;
            if !body.driver.is_empty() && body.driver != "local" {
                return Err(ApiError::bad_request(format!(
                    "volume driver {:?} is not available: only local",
                    body.driver
                )));
            }
            let v = blocking(move || {
                Ok(st.engine.create_volume(Some(body.name.as_str()).filter(|n| !n.is_empty()), body.labels)?)
            })
            .await?;
            json(StatusCode::CREATED, &view(&v))
        }
        (&Method::POST, ["prune"]) => {
            let names = blocking(move || Ok(st.engine.prune_volumes()?)).await?;
            json(StatusCode::OK, &json!({"VolumesDeleted": names, "SpaceReclaimed": 0}))
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
