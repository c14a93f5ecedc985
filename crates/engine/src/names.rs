//! The name registrar: a container name is checked and claimed under one
//! lock shared by every process that creates or renames containers in a data
//! root, so of concurrent creates (or renames) with one name exactly one wins.

use std::fs;

use crate::error::{EngineError, Result};
use crate::Engine;

impl Engine {
    /// The lock of the name registrar (`<data-root>/names.lock`), shared by
    /// every process that creates or renames containers in this root.
    pub(crate) fn names_lock(&self) -> Result<nix::fcntl::Flock<fs::File>> {
        let lock = crate::model::lock_file(&self.root().join("names.lock"), true)?;
        Ok(lock.expect("a waiting lock is always taken"))
    }

    /// Conflict (409) if another container than `id` holds `name`. Call under [`Self::names_lock`].
    pub(crate) fn check_name_free(&self, name: &str, id: &str) -> Result<()> {
        match self.list()?.into_iter().find(|o| o.name == name && o.id != id) {
            Some(other) => Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            ))),
            None => Ok(()),
        }
    }
}
