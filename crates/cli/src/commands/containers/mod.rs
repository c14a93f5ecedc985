//! Container commands as a client of the Docker Engine API (`wharf daemon`
//! or any compatible daemon): ps, create/start/run, logs, exec, stop, kill,
//! rm, inspect, cp, stats, events, and the rest of the everyday set.

mod common;
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
