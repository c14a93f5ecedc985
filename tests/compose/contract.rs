//! The compose Backend's contract suite on the real backend: the Engine
//! API client against `wharf daemon` (the fake runs the same suite in its
//! unit tests).

use super::support::daemon::Daemon;

#[test]
fn the_engine_api_backend_keeps_the_contract() {
    let d = Daemon::start();
    d.import_busybox();
    let client = wharf::client::Client::new(Some(&format!("unix://{}", d.sock().display()))).unwrap();
    wharf_compose::backend::contract::run(&wharf::compose_backend::ApiBackend(&client), "contract", "busybox:local");
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty());
}
