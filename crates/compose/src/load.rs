//! A project loaded: its files and variables found, its model assembled
//! (`assemble.rs`: loaded, checked, paths, merge, `extends`, `include`),
//! named, and its
//! services filtered by the active profiles (`--profile`s and
//! `COMPOSE_PROFILES`; `*` is every profile). A service without
//! `profiles` is always on; one named on the command line is on, with what
//! it depends on. A dependency that is missing or off is an error unless
//! it is `required: false` (then it is dropped, with a warning).

use std::path::{Path, PathBuf};

use crate::assemble;
use crate::error::{ComposeError, Result};
use crate::project::{self, Options};
use crate::yaml::{Key, Node, Value};

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub options: Options,
    pub profiles: Vec<String>,
    /// Services named on the command line.
    pub services: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub directory: PathBuf,
    pub files: Vec<PathBuf>,
    /// The project's variables (env files, the shell over them).
    pub environment: Vec<(String, String)>,
    /// The merged model, `name` set, services of inactive profiles removed.
    pub model: Node,
    /// Every profile a service of the files names, sorted.
    pub profiles: Vec<String>,
    /// Every service of the files, on or off (a container of an off one is no orphan).
    pub all_services: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn load(req: &Request, cwd: &Path, shell: &dyn Fn(&str) -> Option<String>) -> Result<Project> {
    // COMPOSE_FILE may come from the env files of the directory Compose starts in.
    let start = req.options.project_directory.as_ref().map_or_else(|| cwd.to_path_buf(), |d| cwd.join(d));
    let early = project::environment(&req.options, cwd, &start, shell)?;
    let early_lookup = |n: &str| shell(n).or_else(|| early.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
    let found = project::files(&req.options, cwd, &early_lookup)?;
    let environment = project::environment(&req.options, cwd, &found.directory, shell)?;
    let lookup = |n: &str| environment.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).or_else(|| shell(n));
    let home = shell("HOME").map(PathBuf::from);
    let mut warnings = Vec::new();
    let inputs = assemble::Inputs { lookup: &lookup, home: home.as_deref() };
    let mut model = assemble::model_of(&found.files, &found.directory, &inputs, &mut warnings, &mut Vec::new())?;
    let from_file = model.get("name").and_then(Node::as_str).map(str::to_string);
    // COMPOSE_PROJECT_NAME from the shell or the env files.
    let name = project::name(&req.options, &lookup, from_file.as_deref(), &found.directory)?;
    set(&mut model, "name", Value::Str(name.clone()));
    // COMPOSE_PROFILES only when no --profile is given (as Compose).
    let mut active = req.profiles.clone();
    if active.is_empty() {
        if let Some(env) = lookup("COMPOSE_PROFILES") {
            active.extend(env.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string));
        }
    }
    let all_services: Vec<String> =
        model.get("services").map(|s| s.entries().map(|(k, _)| k.to_string()).collect()).unwrap_or_default();
    let profiles = select(&mut model, &active, &req.services, &mut warnings)?;
    // A dependency cycle is refused here, before anything is made of the project.
    crate::graph::start_order(&model)?;
    Ok(Project {
        name,
        directory: found.directory,
        files: found.files,
        environment,
        model,
        profiles,
        all_services,
        warnings,
    })
}

fn set(node: &mut Node, key: &str, value: Value) {
    if let Value::Map(entries) = &mut node.value {
        let pos = node.pos;
        match entries.iter_mut().find(|(k, _)| k.name == key) {
            Some((_, v)) => v.value = value,
            None => entries.insert(0, (Key { name: key.into(), pos }, Node { value, pos, tag: None })),
        }
    }
}

/// What a service depends on: (name, required).
/// `depends_on` (with `required`), then the implicit dependencies
/// (`network_mode: service:`, `volumes_from`, `links`), which are required.
fn dependencies(svc: &Node) -> Vec<(String, bool)> {
    let mut deps: Vec<(String, bool)> = match svc.get("depends_on").map(|d| &d.value) {
        Some(Value::Map(entries)) => entries
            .iter()
            .map(|(k, v)| {
                let required = !matches!(v.get("required").map(|r| &r.value), Some(Value::Bool(false)));
                (k.name.clone(), required)
            })
            .collect(),
        _ => Vec::new(),
    };
    for d in crate::graph::dependencies(svc) {
        if !deps.iter().any(|(n, _)| *n == d) {
            deps.push((d, true));
        }
    }
    deps
}

/// Keeps the services that are on; returns every profile named.
fn select(model: &mut Node, active: &[String], targets: &[String], warnings: &mut Vec<String>) -> Result<Vec<String>> {
    let Some(Value::Map(services)) = model.get("services").map(|s| s.value.clone()) else {
        if let Some(t) = targets.first() {
            return Err(ComposeError::Project(format!("no such service: {t}")));
        }
        return Ok(Vec::new());
    };
    let mut all: Vec<String> =
        services.iter().flat_map(|(_, s)| s.get("profiles").map(Node::strings).unwrap_or_default()).collect();
    all.sort();
    all.dedup();
    let every = active.iter().any(|p| p == "*");
    // Named services (and what they need) are the selection; else the profiles say.
    let mut on: Vec<String> = if targets.is_empty() {
        services
            .iter()
            .filter(|(_, s)| {
                let p = s.get("profiles").map(Node::strings).unwrap_or_default();
                p.is_empty() || every || p.iter().any(|x| active.contains(x))
            })
            .map(|(k, _)| k.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    // Targets, and what they need, are on whatever their profiles.
    let mut queue: Vec<String> = Vec::new();
    for t in targets {
        if !services.iter().any(|(k, _)| &k.name == t) {
            return Err(ComposeError::Project(format!("no such service: {t}")));
        }
        queue.push(t.clone());
    }
    while let Some(t) = queue.pop() {
        if !on.contains(&t) {
            on.push(t.clone());
        }
        if let Some((_, svc)) = services.iter().find(|(k, _)| k.name == t) {
            for (dep, _) in dependencies(svc) {
                if !on.contains(&dep) && services.iter().any(|(k, _)| k.name == dep) {
                    queue.push(dep);
                }
            }
        }
    }
    let mut kept: Vec<(Key, Node)> = Vec::new();
    for (k, mut svc) in services.into_iter().filter(|(k, _)| on.contains(&k.name)) {
        for (dep, required) in dependencies(&svc) {
            if on.contains(&dep) {
                continue;
            }
            if required {
                let why = if model.get("services").and_then(|s| s.get(&dep)).is_some() {
                    format!("service {dep:?} is required by {:?} but is disabled: enable one of its profiles", k.name)
                } else {
                    format!("service {:?} depends on undefined service {dep:?}", k.name)
                };
                return Err(ComposeError::Project(why));
            }
            warnings.push(format!("service {:?}: optional dependency {dep:?} is not part of the project", k.name));
            if let Some(Value::Map(deps)) = svc.get("depends_on").map(|d| d.value.clone()) {
                let deps = deps.into_iter().filter(|(d, _)| d.name != dep).collect();
                if let Value::Map(fields) = &mut svc.value {
                    if let Some((_, d)) = fields.iter_mut().find(|(f, _)| f.name == "depends_on") {
                        d.value = Value::Map(deps);
                    }
                }
            }
        }
        kept.push((k, svc));
    }
    set(model, "services", Value::Map(kept));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)], req: Request, shell: &dyn Fn(&str) -> Option<String>) -> Result<Project> {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("My_App");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        load(&req, &dir, shell)
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    fn names(p: &Project) -> Vec<String> {
        match &p.model.get("services").unwrap().value {
            Value::Map(e) => e.iter().map(|(k, _)| k.name.clone()).collect(),
            _ => panic!(),
        }
    }

    const PROFILED: &str = "services:\n  web: {image: w, depends_on: [db]}\n  db: {image: d}\n  debug: {image: x, profiles: [dev]}\n  tools: {image: t, profiles: [ops, dev], depends_on: [helper]}\n  helper: {image: h, profiles: [never]}\n";

    #[test]
    fn files_env_interpolation_merge_and_name() {
        let files = [
            ("compose.yaml", "services:\n  web:\n    image: \"busybox:${TAG}\"\n    environment: [A=1]\n"),
            ("compose.override.yaml", "services:\n  web:\n    environment: {B: \"${UNSET_VAR}\"}\n"),
            (".env", "TAG=1.36\n"),
        ];
        let p = project(&files, Request::default(), &none).unwrap();
        assert_eq!(p.name, "my_app");
        assert_eq!(p.model.get("name").and_then(Node::as_str), Some("my_app"));
        let web = p.model.get("services").and_then(|s| s.get("web")).unwrap();
        assert_eq!(web.get("image").and_then(Node::as_str), Some("busybox:1.36"));
        assert_eq!(web.get("environment").unwrap().to_json(), serde_json::json!({"A": "1", "B": ""}));
        assert_eq!(p.warnings, ["The \"UNSET_VAR\" variable is not set. Defaulting to a blank string."]);
        let shell = |n: &str| (n == "TAG").then(|| "shell".to_string());
        let p = project(&files, Request::default(), &shell).unwrap();
        let web = p.model.get("services").and_then(|s| s.get("web")).unwrap();
        assert_eq!(web.get("image").and_then(Node::as_str), Some("busybox:shell"), "the shell wins");
    }

    #[test]
    fn the_env_file_names_the_project_and_its_files() {
        let files = [
            ("other.yaml", "services:\n  api: {image: a}\n"),
            ("compose.yaml", "services:\n  web: {image: w}\n"),
            (".env", "COMPOSE_PROJECT_NAME=fromenv\nCOMPOSE_FILE=other.yaml\n"),
        ];
        let p = project(&files, Request::default(), &none).unwrap();
        assert_eq!(p.name, "fromenv");
        assert_eq!(names(&p), ["api"]);
        let shell = |n: &str| (n == "COMPOSE_PROJECT_NAME").then(|| "shell".to_string());
        assert_eq!(project(&files, Request::default(), &shell).unwrap().name, "shell", "the shell wins");
    }

    #[test]
    fn profiles_select_services() {
        let files = [("compose.yaml", PROFILED)];
        let p = project(&files, Request::default(), &none).unwrap();
        assert_eq!(names(&p), ["web", "db"]);
        assert_eq!(p.profiles, ["dev", "never", "ops"]);
        let dev = Request { profiles: vec!["dev".into()], ..Default::default() };
        match project(&files, dev, &none) {
            Err(ComposeError::Project(m)) => assert!(m.contains("\"helper\" is required by \"tools\""), "{m}"),
            other => panic!("{other:?}"),
        }
        let shell = |n: &str| (n == "COMPOSE_PROFILES").then(|| "dev,never".to_string());
        assert_eq!(
            names(&project(&files, Request::default(), &shell).unwrap()),
            ["web", "db", "debug", "tools", "helper"]
        );
        let all = Request { profiles: vec!["*".into()], ..Default::default() };
        assert_eq!(names(&project(&files, all, &none).unwrap()).len(), 5);
        // A service named on the command line is on, with what it depends on.
        let target = Request { services: vec!["tools".into()], ..Default::default() };
        assert_eq!(names(&project(&files, target, &none).unwrap()), ["tools", "helper"]);
        let web = Request { services: vec!["web".into()], ..Default::default() };
        assert_eq!(names(&project(&files, web, &none).unwrap()), ["web", "db"]);
        let both = Request { profiles: vec!["ops".into()], ..Default::default() };
        let shell = |n: &str| (n == "COMPOSE_PROFILES").then(|| "dev".to_string());
        match project(&files, both, &shell) {
            Err(ComposeError::Project(m)) => {
                assert!(m.contains("\"helper\" is required by \"tools\""), "--profile ops, not dev too: {m}")
            }
            other => panic!("{other:?}"),
        }
        let unknown = Request { services: vec!["nope".into()], ..Default::default() };
        assert!(
            matches!(project(&files, unknown, &none), Err(ComposeError::Project(m)) if m.contains("no such service: nope"))
        );
    }

    #[test]
    fn dependencies_must_exist_unless_optional() {
        let missing = [("compose.yaml", "services:\n  web: {image: w, depends_on: [db]}\n")];
        assert!(
            matches!(project(&missing, Request::default(), &none), Err(ComposeError::Project(m)) if m.contains("undefined service \"db\""))
        );
        let optional = [("compose.yaml", "services:\n  web:\n    image: w\n    depends_on:\n      db: {condition: service_started, required: false}\n")];
        let p = project(&optional, Request::default(), &none).unwrap();
        let web = p.model.get("services").and_then(|s| s.get("web")).unwrap();
        assert_eq!(web.get("depends_on").unwrap().to_json(), serde_json::json!({}));
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn a_named_service_brings_its_implicit_dependencies() {
        let files = [("compose.yaml", "services:\n  app: {image: a, network_mode: 'service:vpn', volumes_from: [data]}\n  vpn: {image: v}\n  data: {image: d}\n  other: {image: o}\n")];
        let req = Request { services: vec!["app".into()], ..Default::default() };
        let mut got = names(&project(&files, req, &none).unwrap());
        got.sort();
        assert_eq!(got, ["app", "data", "vpn"]);
    }

    #[test]
    fn a_dependency_cycle_is_refused_at_load() {
        let files =
            [("compose.yaml", "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n")];
        assert!(
            matches!(project(&files, Request::default(), &none), Err(ComposeError::Project(m)) if m.contains("dependency cycle detected: a -> b -> a"))
        );
    }

    #[test]
    fn every_file_is_checked_before_the_merge() {
        let files = [
            ("compose.yaml", "services:\n  web: {image: w}\n"),
            ("compose.override.yaml", "services:\n  web:\n    imag: typo\n"),
        ];
        match project(&files, Request::default(), &none) {
            Err(e @ ComposeError::Schema { line: 3, .. }) => {
                assert!(e.to_string().contains("compose.override.yaml:3: services.web"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let bad_var = [("compose.yaml", "services:\n  web: {image: \"${IMAGE:?set IMAGE}\"}\n")];
        assert!(matches!(
            project(&bad_var, Request::default(), &none),
            Err(ComposeError::Interpolation { line: 2, .. })
        ));
    }
}
