//! `POST /containers/{id}/update`: resources and restart policy, live.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use wharf_engine::containers::RestartPolicy;
use wharf_engine::update::Update;

use super::{blocking, json, read_body, Reply};
use crate::error::ApiError;
use crate::State;

/// A number field: absent, null or 0 leave the value as it is (Docker's rule).
fn int(body: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match &body[key] {
        Value::Null => Ok(None),
        v => match v.as_i64() {
            Some(0) => Ok(None),
            Some(n) => Ok(Some(n)),
            None => Err(ApiError::bad_request(format!("{key} must be an integer, not {v}"))),
        },
    }
}

fn text(body: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match &body[key] {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        v => Err(ApiError::bad_request(format!("{key} must be a string, not {v}"))),
    }
}

pub fn parse(body: &Value) -> Result<Update, ApiError> {
    super::honoured::check_update(body)?;
    let restart_policy = match &body["RestartPolicy"] {
        Value::Null => None,
        v => {
            let p: RestartPolicy = serde_json::from_value(v.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid RestartPolicy: {e}")))?;
            (!p.name.is_empty()).then_some(p)
        }
    };
    let blkio_weight = match int(body, "BlkioWeight")? {
        None => None,
        Some(w) => Some(u16::try_from(w).map_err(|_| ApiError::bad_request(format!("invalid BlkioWeight {w}")))?),
    };
    Ok(Update {
        memory: int(body, "Memory")?,
        memory_swap: int(body, "MemorySwap")?,
        memory_reservation: int(body, "MemoryReservation")?,
        cpus: int(body, "NanoCpus")?.map(|n| n as f64 / 1e9),
        cpu_shares: int(body, "CpuShares")?,
        cpu_period: int(body, "CpuPeriod")?,
        cpu_quota: int(body, "CpuQuota")?,
        cpuset_cpus: text(body, "CpusetCpus")?,
        cpuset_mems: text(body, "CpusetMems")?,
        // 0 and -1 both mean unlimited once given.
        pids_limit: match &body["PidsLimit"] {
            Value::Null => None,
            v => Some(
                v.as_i64().ok_or_else(|| ApiError::bad_request(format!("PidsLimit must be an integer, not {v}")))?,
            )
            .map(|n| if n <= 0 { -1 } else { n }),
        },
        blkio_weight,
        restart_policy,
    })
}

pub async fn update(state: Arc<State>, req: Request<Incoming>, id: &str) -> Reply {
    let data = read_body(req).await?;
    let body: Value =
        serde_json::from_slice(&data).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let u = parse(&body)?;
    let (e, id) = (state.engine.clone(), id.to_string());
    let warnings = blocking(move || Ok(e.update_container(&id, &u)?)).await?;
    json(StatusCode::OK, &json!({"Warnings": warnings}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_as_the_docker_cli_sends_them() {
        // `docker update --memory 100m --restart on-failure:3 c` (zero values for the rest).
        let body = json!({"Memory": 104857600, "MemorySwap": 0, "NanoCpus": 0, "CpuShares": 0, "PidsLimit": null,
            "CpusetCpus": "", "BlkioWeight": 0, "Devices": null, "Ulimits": null, "KernelMemory": 0,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}});
        let u = parse(&body).unwrap();
        assert_eq!(u.memory, Some(104857600));
        assert_eq!((u.memory_swap, u.cpus, u.pids_limit, u.cpuset_cpus.as_deref()), (None, None, None, None));
        assert_eq!(u.restart_policy.unwrap().maximum_retry_count, 3);
        assert_eq!(parse(&json!({"PidsLimit": 0})).unwrap().pids_limit, Some(-1));
        assert!(parse(&json!({"RestartPolicy": {"Name": ""}})).unwrap().restart_policy.is_none());
        let e = parse(&json!({"KernelMemory": 1 << 20})).unwrap_err();
        assert!(e.message.contains("KernelMemory"), "{}", e.message);
        assert!(parse(&json!({"Memory": "lots"})).is_err());
        assert!(parse(&json!({"BlkioWeight": 70000})).is_err());
    }
}
