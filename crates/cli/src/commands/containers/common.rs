//! What every client command shares: the imports they all use, short ids, filter queries.

#![allow(unused_imports)]

pub use std::collections::BTreeMap;
pub use std::io::{Read, Write};
pub use std::path::{Path, PathBuf};

pub use anyhow::{anyhow, bail, Context, Result};
pub use clap::{Args, Subcommand};
pub use serde_json::{json, Value};

pub use crate::client::{demux, enc, status_of, Client};
pub use crate::commands::images::{human_ago, human_size};
pub use crate::format::{align, Template};

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
