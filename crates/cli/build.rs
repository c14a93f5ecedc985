//! Links `wharf` as a non-PIE executable: without load-time relocations its
//! read-only data stays shared between processes instead of being copied
//! into every container monitor (hundreds of KiB each).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
