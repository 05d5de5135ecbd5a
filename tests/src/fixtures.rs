//! Copies of the shared fixture sites in temp dirs (tests never write into the fixtures).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `../shared/fixtures` from the project root.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
        .join("fixtures")
}

/// A fresh copy of `sites/<name>` inside `into`; returns its path.
pub fn copy_site(name: &str, into: &Path) -> PathBuf {
    let source = fixtures_dir().join("sites").join(name);
    assert!(
        source.is_dir(),
        "fixture site {} is missing",
        source.display()
    );
    let target = into.join(name);
    copy_dir(&source, &target);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy fixture file");
        }
    }
}

/// The bytes of `zips/<name>`.
pub fn zip_bytes(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("zips").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture zip {}: {e}", path.display()))
}

/// Every file below `dir` (relative path with `/`) → the SHA-256 of its bytes, hex. Two equal
/// maps mean two byte-identical trees.
pub fn tree_sha256(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .expect("below the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes = std::fs::read(&path).expect("read file");
                out.insert(relative, hex::encode(Sha256::digest(&bytes)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
