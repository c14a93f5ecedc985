//! `extends`: a service built on another — of the same model, or of
//! another file (`extends: {file, service}`; that file interpolated with
//! the project's variables, checked against the schema, its paths resolved
//! against its own directory, its own `extends` followed). The service's
//! own keys merge over the base's by the merge rules. A cycle, a missing
//! file or service, is an error naming them.

use std::path::{Path, PathBuf};

use crate::error::{ComposeError, Result};
use crate::merge;
use crate::yaml::{Node, Value};
use crate::{loader, paths, schema};

/// What `extends` needs from the project.
pub struct Context<'a> {
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<&'a Path>,
}

/// Applies every service's `extends` in `model` (read from `file`).
pub fn apply(model: &mut Node, file: &Path, cx: &Context) -> Result<()> {
    let names: Vec<String> = match model.get("services").map(|s| &s.value) {
        Some(Value::Map(e)) => e.iter().map(|(k, _)| k.name.clone()).collect(),
        _ => return Ok(()),
    };
    let snapshot = model.clone();
    for name in names {
        let mut chain = Vec::new();
        let resolved = resolve(&snapshot, file, &name, cx, &mut chain)?;
        if let Some(Value::Map(services)) = services_mut(model) {
            if let Some((_, svc)) = services.iter_mut().find(|(k, _)| k.name == name) {
                *svc = resolved;
            }
        }
    }
    Ok(())
}

fn services_mut(model: &mut Node) -> Option<&mut Value> {
    match &mut model.value {
        Value::Map(e) => e.iter_mut().find(|(k, _)| k.name == "services").map(|(_, v)| &mut v.value),
        _ => None,
    }
}

fn fail(file: &Path, message: String) -> ComposeError {
    ComposeError::Project(format!("{}: {message}", file.display()))
}

/// Service `name` of `model` with its `extends` applied (recursively).
fn resolve(model: &Node, file: &Path, name: &str, cx: &Context, chain: &mut Vec<(PathBuf, String)>) -> Result<Node> {
    let here = (file.to_path_buf(), name.to_string());
    if chain.contains(&here) {
        let path: Vec<String> = chain.iter().chain([&here]).map(|(_, s)| s.clone()).collect();
        return Err(fail(file, format!("extends cycle: {}", path.join(" -> "))));
    }
    let svc = model
        .get("services")
        .and_then(|s| s.get(name))
        .ok_or_else(|| fail(file, format!("cannot extend service {name:?}: no such service")))?
        .clone();
    let Some(ext) = svc.get("extends").cloned() else { return Ok(svc) };
    chain.push(here);
    let (base_file, base_name) = match &ext.value {
        Value::Str(s) => (None, s.clone()),
        Value::Map(_) => (
            ext.get("file").and_then(Node::as_str).map(PathBuf::from),
            ext.get("service").and_then(Node::as_str).unwrap_or_default().to_string(),
        ),
        _ => return Err(fail(file, format!("services.{name}.extends: a service name or {{file, service}}"))),
    };
    let base = match base_file {
        None => resolve(model, file, &base_name, cx, chain)?,
        Some(other) => {
            let mut loaded = crate::merge::merge_all(loader::load_file(&other, cx.lookup)?.documents);
            schema::validate(&other, &loaded)?;
            paths::resolve(&mut loaded, other.parent().unwrap_or(Path::new("/")), cx.home);
            merge::normalize(&mut loaded);
            resolve(&loaded, &other, &base_name, cx, chain)?
        }
    };
    chain.pop();
    let mut own = svc;
    if let Value::Map(fields) = &mut own.value {
        fields.retain(|(k, _)| k.name != "extends");
    }
    Ok(merge::merge_service(name, base, own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn apply_to(text: &str, dir: &Path) -> Result<serde_json::Value> {
        let file = dir.join("compose.yaml");
        let mut model = parse(text).unwrap();
        paths::resolve(&mut model, dir, None);
        merge::normalize(&mut model);
        apply(&mut model, &file, &Context { lookup: &none, home: None })?;
        Ok(model.get("services").unwrap().to_json())
    }

    #[test]
    fn same_file_chains_merge_by_the_rules() {
        let d = tempfile::tempdir().unwrap();
        let text = "services:\n  base: {image: b, environment: [A=1, B=2], ports: ['80:80'], command: [a]}\n  mid: {extends: base, environment: {B: '3'}, ports: ['81:81']}\n  top: {extends: {service: mid}, command: [b], restart: always}\n";
        let s = apply_to(text, d.path()).unwrap();
        assert_eq!(
            s["top"],
            serde_json::json!({"image": "b", "environment": {"A": "1", "B": "3"}, "ports": ["80:80", "81:81"], "command": ["b"], "restart": "always"})
        );
        assert!(s["mid"].get("extends").is_none());
        assert_eq!(s["base"]["image"], "b");
    }

    #[test]
    fn another_file_with_its_own_paths() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("common")).unwrap();
        std::fs::write(
            d.path().join("common/base.yaml"),
            "services:\n  app:\n    build: ./app\n    volumes: ['./data:/data']\n    env_file: base.env\n",
        )
        .unwrap();
        let text =
            "services:\n  web:\n    extends: {file: common/base.yaml, service: app}\n    volumes: ['./mine:/mine']\n";
        let s = apply_to(text, d.path()).unwrap();
        let root = d.path().display().to_string();
        assert_eq!(s["web"]["build"]["context"], format!("{root}/common/app"));
        assert_eq!(
            s["web"]["volumes"],
            serde_json::json!([format!("{root}/common/data:/data"), format!("{root}/mine:/mine")])
        );
        assert_eq!(s["web"]["env_file"], serde_json::json!([format!("{root}/common/base.env")]));
    }

    #[test]
    fn cycles_and_missing_bases_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            ("services:\n  a: {extends: b}\n  b: {extends: a}\n", "extends cycle: a -> b -> a"),
            ("services:\n  a: {extends: nowhere}\n", "cannot extend service \"nowhere\""),
            ("services:\n  a: {extends: {file: missing.yaml, service: x}}\n", "missing.yaml"),
        ];
        for (text, want) in cases {
            let e = apply_to(text, d.path()).expect_err(text);
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }
}
