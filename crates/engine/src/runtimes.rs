//! Selectable runtimes, as Docker has them: the built-in runtime (`wharf`,
//! the default), runc and crun where they are installed, and whatever the
//! daemon's config names (`runtimes: {name: {path, runtimeArgs}}`,
//! `default-runtime`). A container records the runtime it was created with;
//! every operation on it goes through that runtime (`Arc<dyn Runtime>`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wharf_runtime::{Native, OciBinary, Runtime};

use crate::error::{EngineError, Result};

/// The built-in runtime's name.
pub const BUILTIN: &str = "wharf";

/// One runtime a container can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeSpec {
    pub name: String,
    /// The binary; `None` for the built-in runtime.
    pub path: Option<PathBuf>,
    /// Arguments placed before the verb (`runtimeArgs`).
    pub args: Vec<String>,
}

impl Default for RuntimeSpec {
    fn default() -> Self {
        RuntimeSpec { name: BUILTIN.into(), path: None, args: Vec::new() }
    }
}

/// daemon.json's `runtimes` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RuntimeConfig {
    pub path: PathBuf,
    #[serde(default, rename = "runtimeArgs")]
    pub runtime_args: Vec<String>,
}

impl RuntimeSpec {
    pub fn is_builtin(&self) -> bool {
        self.path.is_none() && self.name == BUILTIN
    }

    /// Where this runtime keeps its state (`--root`): runtimes never share one.
    pub fn state_root(&self, data_root: &Path) -> PathBuf {
        if self.is_builtin() {
            data_root.join("runtime")
        } else {
            data_root.join("runtimes").join(&self.name)
        }
    }

    /// The runtime as the engine drives it. The built-in one runs in the
    /// calling process (it forks: single-threaded callers only, i.e. the monitor).
    pub fn open(&self, data_root: &Path) -> Arc<dyn Runtime> {
        match &self.path {
            None => Arc::new(Native::new(self.state_root(data_root))),
            Some(p) => {
                let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
                Arc::new(OciBinary::new(p, self.state_root(data_root)).with_prefix(&args))
            }
        }
    }
}

/// The runtimes a daemon offers.
#[derive(Clone)]
pub struct Runtimes {
    default: String,
    table: BTreeMap<String, RuntimeSpec>,
    /// Runtimes given as instances (an embedding's own; the fake in tests).
    instances: BTreeMap<String, Arc<dyn Runtime>>,
}

impl std::fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtimes")
            .field("default", &self.default)
            .field("table", &self.table)
            .field("instances", &self.instances.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Runtimes {
    fn default() -> Self {
        Runtimes::new(&BTreeMap::new(), None, &search_path()).expect("the built-in default is valid")
    }
}

/// Directories of `$PATH`, then the usual sbin ones.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from));
    dirs
}

impl Runtimes {
    /// The built-in runtime, runc and crun if found in `search`, then the
    /// configured ones (which may override runc/crun); `default` must name one.
    pub fn new(
        config: &BTreeMap<String, RuntimeConfig>,
        default: Option<&str>,
        search: &[PathBuf],
    ) -> Result<Runtimes> {
        let invalid = |reason: String| EngineError::Invalid { what: "runtimes".into(), reason };
        let mut table = BTreeMap::new();
        table.insert(BUILTIN.to_string(), RuntimeSpec::default());
        for name in ["runc", "crun"] {
            if let Some(p) = search.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
                table.insert(name.to_string(), RuntimeSpec { name: name.into(), path: Some(p), args: Vec::new() });
            }
        }
        for (name, c) in config {
            if name == BUILTIN {
                return Err(invalid(format!("runtime name {name:?} is reserved for the built-in runtime")));
            }
            if !wharf_common::names::valid(name, 1) {
                return Err(invalid(format!("invalid runtime name {name:?}")));
            }
            if !c.path.is_absolute() && !c.path.as_os_str().is_empty() {
                // As dockerd: a bare name is looked up on PATH.
                let found = search.iter().map(|d| d.join(&c.path)).find(|p| p.is_file());
                let path = found.ok_or_else(|| invalid(format!("runtime {name}: {} not found", c.path.display())))?;
                table.insert(
                    name.clone(),
                    RuntimeSpec { name: name.clone(), path: Some(path), args: c.runtime_args.clone() },
                );
                continue;
            }
            if !c.path.is_file() {
                return Err(invalid(format!("runtime {name}: {} is not a file", c.path.display())));
            }
            table.insert(
                name.clone(),
                RuntimeSpec { name: name.clone(), path: Some(c.path.clone()), args: c.runtime_args.clone() },
            );
        }
        let default = default.unwrap_or(BUILTIN).to_string();
        if !table.contains_key(&default) {
            return Err(invalid(format!("default-runtime {default:?} is not a configured runtime")));
        }
        Ok(Runtimes { default, table, instances: BTreeMap::new() })
    }

    /// Adds a runtime given as an instance under `name` (not the built-in's),
    /// the default if `default`.
    pub fn with_instance(mut self, name: &str, rt: Arc<dyn Runtime>, default: bool) -> Result<Runtimes> {
        if name == BUILTIN || !wharf_common::names::valid(name, 1) {
            return Err(EngineError::Invalid {
                what: "runtimes".into(),
                reason: format!("invalid runtime name {name:?}"),
            });
        }
        self.table.insert(name.to_string(), RuntimeSpec { name: name.to_string(), path: None, args: Vec::new() });
        self.instances.insert(name.to_string(), rt);
        if default {
            self.default = name.to_string();
        }
        Ok(self)
    }

    /// The instance registered under `name`, if any.
    pub fn instance(&self, name: &str) -> Option<Arc<dyn Runtime>> {
        self.instances.get(name).cloned()
    }

    /// The runtime a request names (`None`/empty: the default). Docker's words for an unknown one.
    pub fn resolve(&self, name: Option<&str>) -> Result<RuntimeSpec> {
        let name = name.filter(|n| !n.is_empty()).unwrap_or(&self.default);
        self.table.get(name).cloned().ok_or_else(|| EngineError::Invalid {
            what: "runtime".into(),
            reason: format!("unknown or invalid runtime name: {name}"),
        })
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.table.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&RuntimeSpec> {
        self.table.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_defaults_and_config() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("runc"), "").unwrap();
        std::fs::write(tmp.path().join("my-rt"), "").unwrap();
        let search = vec![tmp.path().to_path_buf()];
        let rts = Runtimes::new(&BTreeMap::new(), None, &search).unwrap();
        assert_eq!(rts.default_name(), BUILTIN);
        assert_eq!(rts.names().collect::<Vec<_>>(), ["runc", "wharf"]);
        assert!(rts.resolve(None).unwrap().is_builtin());
        assert_eq!(rts.resolve(Some("runc")).unwrap().path.unwrap(), tmp.path().join("runc"));
        let e = rts.resolve(Some("kata")).unwrap_err();
        assert!(e.to_string().contains("unknown or invalid runtime name: kata"), "{e}");

        let cfg: BTreeMap<String, RuntimeConfig> = serde_json::from_str(&format!(
            r#"{{"mine": {{"path": "{}", "runtimeArgs": ["--debug"]}}, "bare": {{"path": "my-rt"}}}}"#,
            tmp.path().join("my-rt").display()
        ))
        .unwrap();
        let rts = Runtimes::new(&cfg, Some("mine"), &search).unwrap();
        let mine = rts.resolve(None).unwrap();
        assert_eq!((mine.name.as_str(), mine.args.clone()), ("mine", vec!["--debug".to_string()]));
        assert_eq!(rts.resolve(Some("bare")).unwrap().path.unwrap(), tmp.path().join("my-rt"));
        assert_eq!(mine.state_root(Path::new("/data")), Path::new("/data/runtimes/mine"));
        assert_eq!(RuntimeSpec::default().state_root(Path::new("/data")), Path::new("/data/runtime"));
        // An instance is a runtime of the table, never the built-in one.
        let fake: Arc<dyn Runtime> = Arc::new(wharf_runtime::fake::Fake::new(tmp.path().join("fake")));
        let rts = rts.with_instance("fake", fake, true).unwrap();
        let spec = rts.resolve(None).unwrap();
        assert!(!spec.is_builtin() && rts.instance("fake").is_some() && rts.instance("mine").is_none());
        assert!(rts
            .clone()
            .with_instance(BUILTIN, Arc::new(wharf_runtime::fake::Fake::new(tmp.path())), false)
            .is_err());

        for (cfg, default) in [
            (r#"{"wharf": {"path": "/bin/sh"}}"#, None),
            (r#"{"x": {"path": "/no/such/binary"}}"#, None),
            (r#"{"bad name": {"path": "/bin/sh"}}"#, None),
            ("{}", Some("nosuch")),
        ] {
            let cfg: BTreeMap<String, RuntimeConfig> = serde_json::from_str(cfg).unwrap();
            assert!(Runtimes::new(&cfg, default, &search).is_err(), "{cfg:?} {default:?}");
        }
    }
}
