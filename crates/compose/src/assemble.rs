//! Files into one model: each file loaded (interpolated), checked against
//! the schema and its paths resolved against the project directory; the
//! files merged in order; `extends` applied; then `include`: each entry
//! (a path, or `{path, project_directory, env_file}`) loaded as a model of
//! its own — its directory its project directory, its env files (default:
//! its `.env`) under the including project's variables — and its
//! services, networks, volumes, configs and secrets added. A resource an
//! include brings that the model already has is an error, as is an
//! include cycle.

use std::path::{Path, PathBuf};

use crate::error::{ComposeError, Result};
use crate::project::{self, Options};
use crate::yaml::{Key, Node, Value};
use crate::{extends, loader, merge, paths, schema};

const RESOURCES: [&str; 5] = ["services", "networks", "volumes", "configs", "secrets"];
/// Files being included at once (a chain of includes).
const MAX_INCLUDE_DEPTH: usize = 64;

pub struct Inputs<'a> {
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<&'a Path>,
}

/// The merged model of `files` (a project's, or an include's).
pub fn model_of(
    files: &[PathBuf],
    directory: &Path,
    inputs: &Inputs,
    warnings: &mut Vec<String>,
    including: &mut Vec<PathBuf>,
) -> Result<Node> {
    let mut roots = Vec::new();
    // By the files' real paths (a symlink to a directory must not make a new name of one).
    let real: Vec<PathBuf> = files.iter().map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())).collect();
    if including.len() > MAX_INCLUDE_DEPTH {
        return Err(ComposeError::Project(format!("includes nested deeper than {MAX_INCLUDE_DEPTH}")));
    }
    for (f, r) in files.iter().zip(&real) {
        if including.contains(r) {
            return Err(ComposeError::Project(format!("include cycle: {} includes itself", f.display())));
        }
        let loaded = loader::load_file(f, inputs.lookup)?;
        for mut doc in loaded.documents {
            schema::validate(f, &doc)?;
            paths::resolve(&mut doc, directory, inputs.home);
            roots.push(doc);
        }
        for name in loaded.unset {
            let w = format!("The \"{name}\" variable is not set. Defaulting to a blank string.");
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }
    let mut model = merge::merge_all(roots);
    extends::apply(&mut model, &files[0], &extends::Context { lookup: inputs.lookup, home: inputs.home })?;
    including.extend(real.iter().cloned());
    let result = include(&mut model, &files[0], directory, inputs, warnings, including);
    including.truncate(including.len() - real.len());
    result?;
    Ok(model)
}

fn include(
    model: &mut Node,
    file: &Path,
    directory: &Path,
    inputs: &Inputs,
    warnings: &mut Vec<String>,
    including: &mut Vec<PathBuf>,
) -> Result<()> {
    let Value::Map(entries) = &mut model.value else { return Ok(()) };
    let Some(at) = entries.iter().position(|(k, _)| k.name == "include") else { return Ok(()) };
    let (_, list) = entries.remove(at);
    let Value::Seq(items) = list.value else { return Ok(()) };
    for item in items {
        let (paths_, project_dir, env_files) = match &item.value {
            Value::Str(s) => (vec![s.clone()], None, Vec::new()),
            _ => (
                item.get("path").map(Node::strings).unwrap_or_default(),
                item.get("project_directory").and_then(Node::as_str).map(str::to_string),
                item.get("env_file").map(Node::strings).unwrap_or_default(),
            ),
        };
        let files: Vec<PathBuf> =
            paths_.iter().map(|p| PathBuf::from(paths::absolute(directory, inputs.home, p))).collect();
        let Some(first) = files.first() else {
            return Err(ComposeError::Project(format!(
                "{}:{}: include: an entry without a path",
                file.display(),
                item.pos.line
            )));
        };
        for f in &files {
            if !f.is_file() {
                return Err(ComposeError::Project(format!(
                    "{}:{}: include: {}: no such file",
                    file.display(),
                    item.pos.line,
                    f.display()
                )));
            }
        }
        let sub_dir = match project_dir {
            Some(d) => PathBuf::from(paths::absolute(directory, inputs.home, &d)),
            None => first.parent().unwrap_or(directory).to_path_buf(),
        };
        // The entry's paths are the including file's.
        let env_files = env_files.iter().map(|e| PathBuf::from(paths::absolute(directory, inputs.home, e))).collect();
        let opts = Options { env_files, ..Default::default() };
        // The including project's variables win over the include's own env files.
        let own = project::environment(&opts, &sub_dir, &sub_dir, inputs.lookup)?;
        let lookup = |n: &str| (inputs.lookup)(n).or_else(|| own.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
        let sub = model_of(&files, &sub_dir, &Inputs { lookup: &lookup, home: inputs.home }, warnings, including)?;
        add_resources(model, sub, file, first)?;
    }
    Ok(())
}

fn add_resources(model: &mut Node, sub: Node, file: &Path, from: &Path) -> Result<()> {
    let Value::Map(sub) = sub.value else { return Ok(()) };
    let Value::Map(entries) = &mut model.value else { return Ok(()) };
    for (kind, section) in sub.into_iter().filter(|(k, _)| RESOURCES.contains(&k.name.as_str())) {
        let Value::Map(items) = section.value else { continue };
        let slot = match entries.iter().position(|(k, _)| k.name == kind.name) {
            Some(i) => i,
            None => {
                entries.push((
                    Key { name: kind.name.clone(), pos: kind.pos },
                    Node { value: Value::Map(Vec::new()), pos: kind.pos, tag: None },
                ));
                entries.len() - 1
            }
        };
        let Value::Map(existing) = &mut entries[slot].1.value else { continue };
        for (name, item) in items {
            if existing.iter().any(|(k, _)| k.name == name.name) {
                return Err(ComposeError::Project(format!(
                    "{}: {}.{} conflicts with the one {} includes",
                    file.display(),
                    kind.name,
                    name.name,
                    from.display()
                )));
            }
            existing.push((name, item));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<serde_json::Value>) {
        build_with(files, |_| {})
    }

    fn build_with(files: &[(&str, &str)], prepare: impl Fn(&Path)) -> (tempfile::TempDir, Result<serde_json::Value>) {
        let d = tempfile::tempdir().unwrap();
        prepare(d.path());
        for (name, text) in files {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let shell = |n: &str| (n == "FROM_SHELL").then(|| "shell".to_string());
        let inputs = Inputs { lookup: &shell, home: None };
        let r = model_of(&[d.path().join("compose.yaml")], d.path(), &inputs, &mut Vec::new(), &mut Vec::new());
        (d, r.map(|m| m.to_json()))
    }

    #[test]
    fn includes_bring_their_resources_with_their_own_paths_and_env() {
        let (d, m) = build(&[
            ("compose.yaml", "include:\n  - db/compose.yaml\n  - path: [cache/compose.yaml]\n    env_file: cache/custom.env\nservices:\n  web: {image: w, depends_on: [db]}\n"),
            ("db/compose.yaml", "services:\n  db:\n    image: \"postgres:${PG}\"\n    volumes: ['./init:/init']\n    environment: [\"S=${FROM_SHELL}\"]\nvolumes:\n  pgdata: {}\n"),
            ("db/.env", "PG=16\nFROM_SHELL=file\n"),
            ("cache/compose.yaml", "services:\n  cache: {image: \"redis:${REDIS}\"}\n"),
            ("cache/custom.env", "REDIS=7\n"),
        ]);
        let m = m.unwrap();
        let root = d.path().display().to_string();
        assert!(m.get("include").is_none());
        assert_eq!(m["services"]["db"]["image"], "postgres:16");
        assert_eq!(m["services"]["db"]["volumes"][0], format!("{root}/db/init:/init"));
        assert_eq!(m["services"]["db"]["environment"]["S"], "shell", "the including project's variables win");
        assert_eq!(m["services"]["cache"]["image"], "redis:7");
        assert!(m["volumes"].get("pgdata").is_some());
        assert_eq!(m["services"]["web"]["image"], "w");
    }

    #[test]
    fn conflicts_cycles_and_missing_files_are_errors() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[
                    ("compose.yaml", "include: [other.yaml]\nservices: {db: {image: a}}\n"),
                    ("other.yaml", "services: {db: {image: b}}\n"),
                ],
                "services.db conflicts",
            ),
            (
                &[("compose.yaml", "include: [a.yaml]\nservices: {}\n"), ("a.yaml", "include: [compose.yaml]\n")],
                "include cycle",
            ),
            (&[("compose.yaml", "include: [nowhere.yaml]\n")], "nowhere.yaml: no such file"),
            (&[("compose.yaml", "include: [loop/compose.yaml]\nservices: {}\n")], "include cycle"),
        ];
        for (files, want) in cases {
            let (_d, r) = build_with(files, |dir| {
                let _ = std::os::unix::fs::symlink(dir, dir.join("loop"));
            });
            let e = r.expect_err(want);
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
    }
}
