pub mod compose;
pub mod containers;
pub mod daemon;
pub mod images;
pub mod registry;
pub mod run;
pub mod runtime;
