//! A plugin executor for tests: records every call and answers ADD with a
//! result naming an address of its own (or the `ips`/`mac` capability
//! arguments it was given); a plugin can be made to fail.

use std::sync::{Arc, Mutex};

use super::exec::{Call, PluginExec};
use crate::error::{NetworkError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub plugin: String,
    pub call: Call,
    pub stdin: serde_json::Value,
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<Recorded>,
    fail: Option<(String, &'static str)>,
    next: u8,
}

/// Cheap to clone: clones share one record.
#[derive(Debug, Clone, Default)]
pub struct FakePlugins(Arc<Mutex<Inner>>);

impl FakePlugins {
    pub fn new() -> FakePlugins {
        FakePlugins::default()
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).calls.clone()
    }

    /// Makes `command` of `plugin` fail from now on.
    pub fn fail(&self, plugin: &str, command: &'static str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).fail = Some((plugin.to_string(), command));
    }
}

impl PluginExec for FakePlugins {
    fn exec(&self, plugin: &str, call: &Call, stdin: &[u8]) -> Result<Vec<u8>> {
        let mut i = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let stdin: serde_json::Value = serde_json::from_slice(stdin).unwrap_or_default();
        i.calls.push(Recorded { plugin: plugin.to_string(), call: call.clone(), stdin: stdin.clone() });
        if i.fail.as_ref().is_some_and(|(p, c)| p == plugin && *c == call.command) {
            return Err(NetworkError::Cni { plugin: plugin.into(), code: 11, message: "injected failure".into() });
        }
        if call.command != "ADD" {
            return Ok(Vec::new());
        }
        // A chained plugin passes its prevResult on; the first makes one.
        if let Some(prev) = stdin.get("prevResult") {
            return Ok(serde_json::to_vec(prev).expect("json"));
        }
        // Capability arguments honoured as host-local and bridge do.
        i.next += 1;
        let ip = stdin.pointer("/runtimeConfig/ips/0").and_then(|v| v.as_str()).map(str::to_string);
        let ip = ip.unwrap_or_else(|| format!("10.88.0.{}", i.next + 1));
        let mac = stdin.pointer("/runtimeConfig/mac").and_then(|v| v.as_str()).unwrap_or("0a:58:0a:58:00:02");
        let result = serde_json::json!({
            "cniVersion": stdin["cniVersion"],
            "interfaces": [{"name": "cni0"}, {"name": call.ifname, "mac": mac, "sandbox": call.netns}],
            "ips": [{"address": format!("{ip}/16"), "gateway": "10.88.0.1", "interface": 1}],
        });
        Ok(serde_json::to_vec(&result).expect("json"))
    }
}
