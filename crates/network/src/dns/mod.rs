//! The embedded DNS server of user-defined networks, as Docker's: a
//! container on one has `nameserver 127.0.0.11`, and the daemon's one
//! resolver answers its peers' names and relays the rest.
//!
//! - `directory.rs`: what a container may resolve (pure, from the store);
//! - `answer.rs`: a query → an answer or "forward" (pure, hickory's wire format);
//! - `sandbox.rs`: the sockets and the 127.0.0.11:53 redirect inside a sandbox;
//! - `server.rs`: the [`Resolver`] (tokio): attachments, UDP/TCP serving, relaying;
//! - `control.rs`: how a process that wires a sandbox asks for it to be served.

pub mod answer;
pub mod control;
pub mod directory;
pub mod sandbox;
pub mod server;

pub use control::{request, Control};
pub use directory::Directory;
pub use sandbox::DNS_IP;
pub use server::Resolver;
