pub mod images;
pub mod runtime;
