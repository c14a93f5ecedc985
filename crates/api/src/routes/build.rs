//! `POST /build`: the classic builder's API (what `DOCKER_BUILDKIT=0 docker
//! build` and `wharf build` send): a tar context in, a JSON stream out.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};

use super::Reply;
use crate::body::channel;
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

fn json_map(q: &Query, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = q.get(key).filter(|r| !r.is_empty()) else { return Ok(BTreeMap::new()) };
    let v: BTreeMap<String, Option<String>> =
        serde_json::from_str(raw).map_err(|_| ApiError::bad_request(format!("invalid {key}: {raw}")))?;
    Ok(v.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

pub async fn build(state: Arc<State>, req: Request<Incoming>, q: &Query) -> Reply {
    super::honoured::check_build(q.pairs())?;
    let tags = q.all("t");
    for t in &tags {
        t.parse::<wharf_image::Reference>().map_err(ApiError::from)?;
    }
    let build_args = json_map(q, "buildargs")?;
    let labels = json_map(q, "labels")?;
    let dockerfile = q.get("dockerfile").filter(|d| !d.is_empty()).unwrap_or("Dockerfile").to_string();
    let target = q.get("target").filter(|t| !t.is_empty()).map(str::to_string);
    let quiet = q.flag("q");
    let no_cache = q.flag("nocache");
    let context = crate::body::reader(req.into_body());
    let (tx, body) = channel();
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let send = |v: Value| {
            let _ = tx.blocking_send(format!("{v}\n").into());
        };
        let dir = st.engine.root().join("tmp").join(format!("build-{}", &wharf_common::ids::new_id()[..12]));
        let result = (|| -> Result<wharf_image::Image, String> {
            std::fs::create_dir_all(&dir).map_err(|e| format!("build context: {e}"))?;
            let plain = wharf_image::unpack::decompress(context).map_err(|e| e.to_string())?;
            wharf_image::unpack::unpack_layer(plain, &dir).map_err(|e| format!("build context: {e}"))?;
            let req = wharf_build::BuildRequest {
                context: dir.clone(),
                dockerfile,
                tags,
                build_args,
                labels,
                target,
                monitor_exe: st.config.monitor_exe.clone(),
                no_cache,
            };
            let mut out = |s: &str| {
                if !quiet || s.starts_with("Successfully") {
                    send(json!({ "stream": s }));
                }
            };
            wharf_build::build(&st.engine, &req, &mut out).map_err(|e| e.to_string())
        })();
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Ok(img) => send(json!({"aux": {"ID": img.id().to_string()}})),
            Err(e) => send(json!({"errorDetail": {"message": e}, "error": e})),
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}
