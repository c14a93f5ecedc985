//! Container commands as a client of the Docker Engine API (`wharf daemon`
//! or any compatible daemon): ps, create/start/run, logs, exec, stop, kill,
//! rm, inspect, cp, stats, events, and the rest of the everyday set.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::images::{human_ago, human_size};
use crate::client::{demux, enc, status_of, Client};
use crate::format::{align, Template};

pub fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

pub fn filters_query(filters: &[String]) -> Result<String> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(if map.is_empty() { String::new() } else { format!("&filters={}", enc(&serde_json::to_string(&map)?)) })
}

mod ps;
pub use ps::*;
mod run;
pub use run::*;
mod verbs;
pub use verbs::*;
mod files;
pub use files::*;
mod stats;
pub use stats::*;
mod objects;
pub use objects::*;
mod images;
pub use images::*;
mod build;
pub use build::*;
