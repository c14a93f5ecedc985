//! Which files make a project, where it lives, what it is called and what
//! its variables are — Compose v2's rules: `-f` (several) or
//! `COMPOSE_FILE`, else `compose.yaml`/`compose.yml`/`docker-compose.yaml`/
//! `docker-compose.yml` found in the working directory or the nearest
//! parent, with its `*.override.*` file after it; the project directory is
//! `--project-directory` or the first file's directory; the name is `-p`,
//! `COMPOSE_PROJECT_NAME`, the file's `name:` or the directory's base name
//! (normalised); variables are the `.env` of the project directory (or the
//! `--env-file`s), overridden by the shell's environment.

use std::path::{Path, PathBuf};

use crate::error::{ComposeError, Result};

/// The file names looked for, in order of preference.
pub const CANDIDATES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];
const OVERRIDES: [&str; 4] =
    ["compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"];

/// What the command line (and shell) said about the project.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub project_directory: Option<PathBuf>,
    pub project_name: Option<String>,
    pub env_files: Vec<PathBuf>,
}

/// The files to load, in merge order, and the project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub files: Vec<PathBuf>,
    pub directory: PathBuf,
}

fn not_found(what: String) -> ComposeError {
    ComposeError::Project(what)
}

/// The project's files: `opts.files`, else `COMPOSE_FILE` (split on
/// `COMPOSE_PATH_SEPARATOR`, default `:`), else discovery from `cwd` upwards.
pub fn files(opts: &Options, cwd: &Path, shell: &dyn Fn(&str) -> Option<String>) -> Result<Files> {
    let mut files: Vec<PathBuf> = opts.files.iter().map(|f| cwd.join(f)).collect();
    if files.is_empty() {
        if let Some(list) = shell("COMPOSE_FILE").filter(|l| !l.is_empty()) {
            let sep = shell("COMPOSE_PATH_SEPARATOR").filter(|s| !s.is_empty()).unwrap_or_else(|| ":".into());
            files = list.split(sep.as_str()).filter(|f| !f.is_empty()).map(|f| cwd.join(f)).collect();
        }
    }
    if files.is_empty() {
        let found = discover(cwd)?;
        let dir = found.parent().unwrap_or(cwd).to_path_buf();
        files.push(found);
        if let Some(o) = OVERRIDES.iter().map(|o| dir.join(o)).find(|o| o.is_file()) {
            files.push(o);
        }
    }
    for f in &files {
        if !f.is_file() {
            return Err(not_found(format!("{}: no such compose file", f.display())));
        }
    }
    let directory = match &opts.project_directory {
        Some(d) => cwd.join(d),
        None => files[0].parent().unwrap_or(cwd).to_path_buf(),
    };
    Ok(Files { files, directory })
}

/// The nearest directory from `cwd` up that holds a compose file, and
/// the preferred file there.
fn discover(cwd: &Path) -> Result<PathBuf> {
    for dir in cwd.ancestors() {
        let present: Vec<PathBuf> = CANDIDATES.iter().map(|c| dir.join(c)).filter(|p| p.is_file()).collect();
        if let Some(first) = present.first() {
            if present.len() > 1 {
                tracing::warn!("found several compose files in {}: using {}", dir.display(), first.display());
            }
            return Ok(first.clone());
        }
    }
    Err(not_found(format!(
        "no configuration file provided: not found (looked for {} in {} and its parents)",
        CANDIDATES.join(", "),
        cwd.display()
    )))
}

/// The project's name: `-p`, `COMPOSE_PROJECT_NAME`, the file's `name:`,
/// else the directory's base name made valid (lowercased, other than
/// `[a-z0-9_-]` dropped). A name given explicitly must already be valid.
pub fn name(
    opts: &Options,
    shell: &dyn Fn(&str) -> Option<String>,
    from_file: Option<&str>,
    directory: &Path,
) -> Result<String> {
    let given = opts
        .project_name
        .clone()
        .or_else(|| shell("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()))
        .or_else(|| from_file.map(str::to_string));
    if let Some(n) = given {
        return if valid_name(&n) {
            Ok(n)
        } else {
            Err(ComposeError::Project(format!(
                "invalid project name {n:?}: it must contain only lowercase letters, decimal digits, dashes, and underscores, and must begin with a lowercase letter or decimal digit"
            )))
        };
    }
    let base = directory.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    let normal: String = base
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let normal = normal.trim_start_matches(['-', '_']).to_string();
    if normal.is_empty() {
        return Err(ComposeError::Project(format!(
            "project name could not be derived from {}: use -p or name:",
            directory.display()
        )));
    }
    Ok(normal)
}

pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The project's variables: the env files (`--env-file`s, else the
/// directory's `.env` if there is one), then the shell's environment over
/// them. Returns a lookup for interpolation.
/// `--env-file`s are relative to `cwd` (as Compose reads them); the
/// default `.env` is the project directory's.
pub fn environment(
    opts: &Options,
    cwd: &Path,
    directory: &Path,
    shell: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let dot = directory.join(".env");
        if dot.is_file() {
            vec![dot]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|f| cwd.join(f)).collect()
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    for f in files {
        let text = crate::loader::read_bounded(&f)?;
        let known = vars.clone();
        let lookup = |n: &str| shell(n).or_else(|| known.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
        for (k, v) in crate::dotenv::parse(&f, &text, &lookup)? {
            match vars.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => vars.push((k, v)),
            }
        }
    }
    // The shell wins over the files.
    for (k, v) in vars.iter_mut() {
        if let Some(s) = shell(k) {
            *v = s;
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "services: {}\n").unwrap();
    }

    #[test]
    fn discovery_prefers_compose_yaml_and_walks_up() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("app");
        touch(&root.join("docker-compose.yml"));
        touch(&root.join("compose.yaml"));
        touch(&root.join("compose.override.yaml"));
        let deep = root.join("src/deep");
        std::fs::create_dir_all(&deep).unwrap();
        let f = files(&Options::default(), &deep, &none).unwrap();
        assert_eq!(f.files, [root.join("compose.yaml"), root.join("compose.override.yaml")]);
        assert_eq!(f.directory, root);
        let nowhere = tempfile::tempdir().unwrap();
        assert!(matches!(files(&Options::default(), nowhere.path(), &none), Err(ComposeError::Project(_))));
    }

    #[test]
    fn explicit_files_then_compose_file_then_discovery() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("a.yaml"));
        touch(&d.path().join("sub/b.yaml"));
        touch(&d.path().join("compose.yaml"));
        let opts = Options { files: vec!["sub/b.yaml".into(), "a.yaml".into()], ..Default::default() };
        let f = files(&opts, d.path(), &none).unwrap();
        assert_eq!(f.files, [d.path().join("sub/b.yaml"), d.path().join("a.yaml")]);
        assert_eq!(f.directory, d.path().join("sub"), "the first file's directory");
        let env = |n: &str| match n {
            "COMPOSE_FILE" => Some("a.yaml;sub/b.yaml".into()),
            "COMPOSE_PATH_SEPARATOR" => Some(";".into()),
            _ => None,
        };
        let f = files(&Options::default(), d.path(), &env).unwrap();
        assert_eq!(f.files, [d.path().join("a.yaml"), d.path().join("sub/b.yaml")]);
        let with_dir = Options { project_directory: Some("sub".into()), ..Default::default() };
        assert_eq!(files(&with_dir, d.path(), &none).unwrap().directory, d.path().join("sub"));
        let missing = Options { files: vec!["nope.yaml".into()], ..Default::default() };
        assert!(matches!(files(&missing, d.path(), &none), Err(ComposeError::Project(_))));
    }

    #[test]
    fn names_by_precedence_and_normalised_from_the_directory() {
        let dir = Path::new("/srv/My App.v2");
        assert_eq!(name(&Options::default(), &none, None, dir).unwrap(), "myappv2");
        assert_eq!(name(&Options::default(), &none, Some("fromfile"), dir).unwrap(), "fromfile");
        let env = |n: &str| (n == "COMPOSE_PROJECT_NAME").then(|| "fromenv".to_string());
        assert_eq!(name(&Options::default(), &env, Some("fromfile"), dir).unwrap(), "fromenv");
        let p = Options { project_name: Some("fromflag".into()), ..Default::default() };
        assert_eq!(name(&p, &env, Some("fromfile"), dir).unwrap(), "fromflag");
        for bad in ["Upper", "-dash", "has space", "dot.ted", ""] {
            let p = Options { project_name: Some(bad.into()), ..Default::default() };
            assert!(name(&p, &none, None, dir).is_err() || bad.is_empty(), "{bad:?}");
        }
        assert_eq!(name(&Options::default(), &none, None, Path::new("/srv/_x-1")).unwrap(), "x-1");
        assert!(name(&Options::default(), &none, None, Path::new("/srv/...")).is_err());
    }

    #[test]
    fn the_shell_wins_over_env_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".env"), "A=file\nB=file\nC=${B}-c\n").unwrap();
        let shell = |n: &str| (n == "B").then(|| "shell".to_string());
        let vars = environment(&Options::default(), Path::new("/elsewhere"), d.path(), &shell).unwrap();
        assert_eq!(
            vars,
            // The file's own B for C (a file reads as written), the shell's B after.
            [("A".into(), "file".into()), ("B".into(), "shell".into()), ("C".into(), "file-c".into())]
        );
        std::fs::write(d.path().join("other.env"), "A=other\n").unwrap();
        let opts = Options { env_files: vec!["other.env".into()], ..Default::default() };
        assert_eq!(
            environment(&opts, d.path(), Path::new("/elsewhere"), &none).unwrap(),
            [("A".into(), "other".into())]
        );
        let missing = Options { env_files: vec!["missing.env".into()], ..Default::default() };
        assert!(environment(&missing, d.path(), d.path(), &none).is_err());
    }
}
