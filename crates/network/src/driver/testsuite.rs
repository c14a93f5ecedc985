//! The contract every driver keeps.
