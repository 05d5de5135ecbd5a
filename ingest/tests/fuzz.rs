//! Fuzzing of zip ingest, bounded so it runs in CI.
//!
//! Seeds are the fixture zips of `shared/fixtures/zips` (good and hostile, the two large
//! ones left out for speed); each case flips, overwrites, drops or duplicates bytes of one —
//! in the central directory, the local headers or the data — or cuts it short, and ingests
//! the result. What must hold for any input: no panic; a refused zip leaves nothing in the
//! parent folder but the upload (no workspace, no staging folder); an accepted one leaves
//! only plain files and folders inside the workspace, exactly as many files and bytes as it
//! reports, each within the limits.
//!
//! Run longer with `DEVFLOW_FUZZ_CASES=100000 cargo test --release -p devflow-ingest --test
//! fuzz`; a failure prints the minimal input, which becomes a regression test.

use std::fs;
use std::path::{Path, PathBuf};

use devflow_ingest::{ingest, Limits};
use proptest::prelude::*;

fn seeds() -> &'static [(String, Vec<u8>)] {
    static SEEDS: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/zips");
        let mut seeds: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "zip"))
            .filter_map(|p| {
                let bytes = fs::read(&p).expect("read zip");
                let name = p.file_name()?.to_string_lossy().into_owned();
                (bytes.len() < 512 * 1024).then_some((name, bytes))
            })
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 15, "{} fixture zips", seeds.len());
        seeds
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// XORs a byte at a relative position (0..10000 of the file).
    Flip {
        at: u16,
        mask: u8,
    },
    /// Overwrites 4 bytes with a value zip readers treat specially.
    Overwrite {
        at: u16,
        value: u32,
    },
    Drop {
        at: u16,
        len: u16,
    },
    Duplicate {
        at: u16,
        len: u16,
    },
    Truncate {
        keep: u16,
    },
    /// Flips a byte within the last 256 bytes: the end record and the central directory.
    FlipTail {
        back: u8,
        mask: u8,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        Just(0xFFFF),
        Just(0x0403_4b50), // a local header signature
        Just(0x0201_4b50), // a central header signature
        Just(0x0605_4b50), // the end record signature
        any::<u32>(),
    ];
    prop_oneof![
        (0..10000u16, 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (0..10000u16, value).prop_map(|(at, value)| Mutation::Overwrite { at, value }),
        (0..10000u16, 1..512u16).prop_map(|(at, len)| Mutation::Drop { at, len }),
        (0..10000u16, 1..512u16).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (1..10000u16).prop_map(|keep| Mutation::Truncate { keep }),
        (0..=255u8, 1..=255u8).prop_map(|(back, mask)| Mutation::FlipTail { back, mask }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let at = |share: u16| bytes.len().saturating_sub(1) * usize::from(share) / 10000;
    match *mutation {
        Mutation::Flip { at: share, mask } => {
            let i = at(share);
            bytes[i] ^= mask;
        }
        Mutation::Overwrite { at: share, value } => {
            let i = at(share);
            for (k, b) in value.to_le_bytes().into_iter().enumerate() {
                if let Some(slot) = bytes.get_mut(i + k) {
                    *slot = b;
                }
            }
        }
        Mutation::Drop { at: share, len } => {
            let i = at(share);
            let end = (i + usize::from(len)).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Duplicate { at: share, len } => {
            let i = at(share);
            let end = (i + usize::from(len)).min(bytes.len());
            let copy = bytes[i..end].to_vec();
            bytes.splice(i..i, copy);
        }
        Mutation::Truncate { keep } => {
            let keep = at(keep);
            bytes.truncate(keep);
        }
        Mutation::FlipTail { back, mask } => {
            let i = bytes.len().saturating_sub(1 + usize::from(back));
            bytes[i] ^= mask;
        }
    }
}

/// Every path under `dir`, relative, with whether it is a plain file, a folder or other.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, &'static str, u64)>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path: PathBuf = entry.expect("entry").path();
        let relative = path
            .strip_prefix(root)
            .expect("inside")
            .to_string_lossy()
            .into_owned();
        let meta = fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            out.push((relative, "folder", 0));
            walk(root, &path, out);
        } else if meta.is_file() {
            out.push((relative, "file", meta.len()));
        } else {
            out.push((relative, "other", 0));
        }
    }
}

fn cases() -> u32 {
    std::env::var("DEVFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_zips_are_refused_cleanly_or_unpacked_within_limits(
        seed in 0..1000usize,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let (name, bytes) = &seeds[seed % seeds.len()];
        let mut bytes = bytes.clone();
        for m in &mutations {
            mutate(&mut bytes, m);
        }

        let root = tempfile::tempdir().expect("tempdir");
        let upload = root.path().join("upload.zip");
        fs::write(&upload, &bytes).expect("write upload");
        let workspace = root.path().join("site");
        let limits = Limits::default();
        let outcome = ingest(&upload, &workspace, &limits);

        let mut found = Vec::new();
        walk(root.path(), root.path(), &mut found);
        match &outcome {
            Err(error) => {
                prop_assert_eq!(
                    found.iter().map(|(p, _, _)| p.as_str()).collect::<Vec<_>>(),
                    vec!["upload.zip"],
                    "{} refused ({}) but left files behind", name, error
                );
            }
            Ok(summary) => {
                let inside: Vec<_> = found
                    .iter()
                    .filter(|(p, _, _)| p != "upload.zip")
                    .collect();
                prop_assert!(
                    inside.iter().all(|(p, _, _)| p == "site" || p.starts_with("site/")),
                    "{}: something beside the workspace: {:?}", name, inside
                );
                prop_assert!(
                    inside.iter().all(|(_, kind, _)| *kind != "other"),
                    "{}: a link or special file was created: {:?}", name, inside
                );
                let files: Vec<_> = inside.iter().filter(|(_, kind, _)| *kind == "file").collect();
                prop_assert_eq!(files.len() as u64, summary.files, "{}: file count", name);
                let total: u64 = files.iter().map(|(_, _, len)| len).sum();
                prop_assert_eq!(total, summary.bytes, "{}: byte count", name);
                prop_assert!(total <= limits.max_total_bytes, "{}: {} bytes over the limit", name, total);
                for (path, _, len) in &files {
                    prop_assert!(*len <= limits.max_file_bytes, "{}: {} is {} bytes", name, path, len);
                }
            }
        }
    }
}
