//! `GET /containers/{id}/changes`: the writable layer's changes, as
//! Docker's `container diff` lists them.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::{blocking, json, Reply};
use crate::State;

pub async fn changes(state: Arc<State>, id: &str) -> Reply {
    let (e, id) = (state.engine.clone(), id.to_string());
    let list = blocking(move || Ok(e.changes(&id)?)).await?;
    let list: Vec<Value> = list.iter().map(|c| json!({"Path": c.path, "Kind": c.kind as u8})).collect();
    // Docker's is a Go nil slice when nothing changed.
    if list.is_empty() {
        return json(StatusCode::OK, &Value::Null);
    }
    json(StatusCode::OK, &list)
}

/// Docker's `SizeRw` and `SizeRootFs` of each container (`size=true` on
/// list and inspect, `system df`): what it wrote, and that plus its image.
pub async fn sizes(
    state: &Arc<State>,
    ids: Vec<(String, String)>,
) -> crate::error::Result<HashMap<String, (u64, u64)>> {
    let e = state.engine.clone();
    blocking(move || {
        let mut out = HashMap::new();
        for (id, image) in ids {
            let rw = e.rw_size(&id)?;
            let image = e.images.resolve(&image).map(|(_, img)| img.size()).unwrap_or(0);
            out.insert(id, (rw, rw + image));
        }
        Ok(out)
    })
    .await
}
