//! Compose, natively: the Compose Specification's files loaded into a
//! model (interpolated, merged, validated), for `wharf compose` to run on
//! the engine or against any Docker-API daemon.

pub mod assemble;
pub mod backend;
pub mod convert;
pub mod dotenv;
pub mod error;
pub mod extends;
pub mod graph;
pub mod interpolate;
pub mod load;
pub mod loader;
pub mod merge;
pub mod ops;
pub mod origin;
pub mod paths;
pub mod project;
pub mod render;
pub mod schema;
pub mod units;
pub mod up;
pub mod watch;
pub mod yaml;

pub use error::{ComposeError, InterpolationError};
