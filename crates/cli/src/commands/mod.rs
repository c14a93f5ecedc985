pub mod images;
pub mod registry;
pub mod runtime;
pub mod run;
