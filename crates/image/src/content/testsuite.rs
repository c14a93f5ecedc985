//! The suite every `ContentStore` runs (as containerd's content testsuite):
//! `content_store_suite!(|| (guard, store))` expands to one `#[test]` per
//! case; `guard` keeps whatever backs the store (a temp dir) alive.

use std::collections::BTreeSet;
use std::io::Write;

use super::ContentStore;
use crate::digest::Digest;
use crate::error::ImageError;

/// One `#[test]` per case, each on a fresh store from `$make`.
#[macro_export]
macro_rules! content_store_suite {
    ($make:expr) => {
        $crate::content_store_suite!(@cases $make;
            put_read_delete, wrong_digest_or_size_refused, resumable_ingest,
            concurrent_writers, list_and_ingests, prune_ingests_keeps);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let (_guard, store) = ($make)();
                $crate::content::testsuite::$case(&*store);
            }
        )*
    };
}

pub fn put_read_delete(store: &dyn ContentStore) {
    let d = store.put(b"hello").unwrap();
    assert_eq!(d, Digest::sha256(b"hello"));
    assert_eq!(store.stat(&d).unwrap(), Some(5));
    assert_eq!(store.read_all(&d).unwrap(), b"hello");
    assert_eq!(store.put(b"hello").unwrap(), d, "put is idempotent");
    assert_eq!(store.list().unwrap(), vec![(d.clone(), 5)]);
    store.delete(&d).unwrap();
    store.delete(&d).unwrap(); // absent: no error
    assert_eq!(store.stat(&d).unwrap(), None);
    assert!(matches!(store.open(&d), Err(ImageError::BlobNotFound(_))));
    assert!(matches!(store.read_all(&d), Err(ImageError::BlobNotFound(_))));
}

pub fn wrong_digest_or_size_refused(store: &dyn ContentStore) {
    let want = Digest::sha256(b"good");
    let mut w = store.writer("k").unwrap();
    w.write_all(b"evil").unwrap();
    assert!(matches!(w.commit(&want, Some(4)), Err(ImageError::DigestMismatch { .. })));
    assert!(store.list().unwrap().is_empty(), "nothing visible after a mismatch");
    let mut w = store.writer("k").unwrap();
    assert_eq!(w.offset(), 0, "a failed commit discards the partial data");
    w.write_all(b"good").unwrap();
    assert!(matches!(w.commit(&want, Some(5)), Err(ImageError::SizeMismatch { .. })));
    assert!(store.list().unwrap().is_empty());
    let mut w = store.writer("k").unwrap();
    w.write_all(b"good").unwrap();
    w.commit(&want, Some(4)).unwrap();
    assert_eq!(store.read_all(&want).unwrap(), b"good");
}

pub fn resumable_ingest(store: &dyn ContentStore) {
    let data = b"0123456789abcdef";
    let want = Digest::sha256(data);
    {
        let mut w = store.writer("dl").unwrap();
        w.write_all(&data[..6]).unwrap();
    } // dropped: the download broke
    assert_eq!(store.stat(&want).unwrap(), None);
    assert_eq!(store.ingests().unwrap(), vec!["dl".to_string()]);
    let mut w = store.writer("dl").unwrap();
    assert_eq!(w.offset(), 6);
    w.write_all(&data[6..]).unwrap();
    w.commit(&want, Some(data.len() as u64)).unwrap();
    assert_eq!(store.read_all(&want).unwrap(), data);
    // A truncated resume starts over.
    let mut w = store.writer("again").unwrap();
    w.write_all(b"junk").unwrap();
    w.truncate().unwrap();
    assert_eq!(w.offset(), 0);
    w.write_all(b"x").unwrap();
    assert_eq!(w.commit_computed().unwrap(), (Digest::sha256(b"x"), 1));
}

pub fn concurrent_writers(store: &dyn ContentStore) {
    let data = vec![7u8; 1 << 20];
    let want = Digest::sha256(&data);
    std::thread::scope(|s| {
        for i in 0..4 {
            let (data, want) = (&data, &want);
            s.spawn(move || {
                // Distinct keys race on the publication; identical keys serialise.
                let mut w = store.writer(&format!("w{}", i % 2)).unwrap();
                w.truncate().unwrap();
                w.write_all(data).unwrap();
                w.commit(want, Some(data.len() as u64)).unwrap();
            });
        }
    });
    assert_eq!(store.read_all(&want).unwrap(), data);
    assert_eq!(store.list().unwrap().len(), 1);
}

pub fn list_and_ingests(store: &dyn ContentStore) {
    let mut want: Vec<(Digest, u64)> =
        ["a", "bb", "ccc"].iter().map(|s| (store.put(s.as_bytes()).unwrap(), s.len() as u64)).collect();
    want.sort();
    assert_eq!(store.list().unwrap(), want, "every blob, sorted, with its size");
    let mut w = store.writer("open").unwrap();
    w.write_all(b"partial").unwrap();
    assert!(store.ingests().unwrap().contains(&"open".to_string()));
    assert_eq!(store.list().unwrap().len(), 3, "an ingest is not a blob");
    w.commit_computed().unwrap();
    assert!(!store.ingests().unwrap().contains(&"open".to_string()), "a committed ingest is gone");
}

pub fn prune_ingests_keeps(store: &dyn ContentStore) {
    for k in ["idle", "kept"] {
        store.writer(k).unwrap().write_all(b"part").unwrap();
    }
    let mut held = store.writer("held").unwrap();
    held.write_all(b"part").unwrap();
    let keep: BTreeSet<String> = ["kept".to_string()].into();
    assert_eq!(store.prune_ingests(&keep).unwrap(), 1, "only the idle, unkept ingest goes");
    let left = store.ingests().unwrap();
    assert_eq!(left, vec!["held".to_string(), "kept".to_string()]);
    drop(held);
    assert_eq!(store.prune_ingests(&BTreeSet::new()).unwrap(), 2);
    assert!(store.ingests().unwrap().is_empty());
}
