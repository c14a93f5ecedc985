//! Wharf's network layer: named networks (Docker's `bridge`, `host`, `none`
//! and user-defined bridges), IP address management, and the wiring of a
//! container's network namespace (its "sandbox") to them, through netlink;
//! NAT, isolation and published ports in Wharf's own nftables table (with
//! the userland proxy, `proxy/`, for loopback and container clients); the
//! embedded DNS server of user-defined networks.
//!
//! Layers, each importing only those below it:
//! - `dns/`: the embedded resolver of user-defined networks (reads the store);
//! - `networks.rs`: the store ([`Networks`]), which dispatches by a
//!   network's driver name to a [`NetworkDriver`] of its [`Drivers`] table;
//! - `driver/`: `bridge`, `host`, `null`;
//! - `firewall/`: the [`Firewall`] seam (nftables, none, the recording fake);
//! - `sys/`: the [`Host`] seam (netlink, or the in-memory fake);
//! - `ipam.rs`, `model.rs`, `error.rs`.
//!
//! `testsuite.rs` is the contract every driver passes (tests only).

#![forbid(unsafe_code)]

pub mod dns;
pub mod driver;
pub mod error;
pub mod firewall;
pub mod ipam;
mod model;
mod networks;
pub mod proxy;
pub mod sys;
#[cfg(test)]
mod testsuite;

pub use driver::{Drivers, NetworkDriver};
pub use error::{NetworkError, Result};
pub use firewall::Firewall;
pub use model::{CreateRequest, Endpoint, EndpointRequest, Network};
pub use networks::Networks;
pub use sys::Host;
