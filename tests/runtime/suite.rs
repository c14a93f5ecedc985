//! One contract, every runtime: the shared suite `wharf_runtime::fake::contract`
//! (lifecycle, pid file, exec exit codes, pause/resume, stats, force-delete,
//! a missing executable as its own error kind, unknown ids) run against the
//! built-in runtime through its CLI and against Debian's runc, as the engine
//! drives both (`OciBinary`). The fake runs the same suite in its unit tests.

use wharf_runtime::{fake, OciBinary};

use crate::support::{runc_available, Env, WHARF};

#[test]
fn runtime_trait_suite_wharf() {
    let env = Env::new();
    let rt = OciBinary::new(WHARF, env.root()).with_prefix(&["runtime"]);
    fake::contract(&rt, &|id, args| env.bundle(id, args, |_| {}), &format!("suite-wharf-{}", std::process::id()));
}

#[test]
fn runtime_trait_suite_runc() {
    assert!(runc_available(), "runc is not installed (apt-get install runc)");
    let env = Env::with_runtime(&["runc"]);
    let rt = OciBinary::new("runc", env.root());
    fake::contract(&rt, &|id, args| env.bundle(id, args, |_| {}), &format!("suite-runc-{}", std::process::id()));
}
