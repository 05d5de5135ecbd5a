//! The IO edge on zips built here, byte by byte where a hostile one needs it: headers that
//! lie about sizes, methods and checksums, workspaces that are not empty, permissions, and a
//! property test that no accepted or refused zip ever writes outside the workspace.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use devflow_ingest::{ingest, ErrorKind, IngestError, Limits};
use proptest::prelude::*;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const LOCAL_HEADER: &[u8] = b"PK\x03\x04";
const CENTRAL_HEADER: &[u8] = b"PK\x01\x02";

enum Item<'a> {
    File(&'a str, &'a [u8]),
    Folder(&'a str),
    Link(&'a str, &'a str),
}

fn build(items: &[Item<'_>], method: CompressionMethod, mode: u32) -> Vec<u8> {
    try_build(items, method, mode).expect("zip writer")
}

fn try_build(
    items: &[Item<'_>],
    method: CompressionMethod,
    mode: u32,
) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .unix_permissions(mode);
    for item in items {
        match item {
            Item::File(name, data) => {
                writer.start_file(*name, options)?;
                writer.write_all(data)?;
            }
            Item::Folder(name) => writer.add_directory(*name, options)?,
            Item::Link(name, target) => writer.add_symlink(*name, *target, options)?,
        }
    }
    Ok(writer.finish()?.into_inner())
}

/// Offsets of the local and the central header of the entry called `name`.
fn headers_of(zip: &[u8], name: &str) -> (usize, usize) {
    let find = |signature: &[u8], name_at: usize| {
        (0..zip.len().saturating_sub(name_at + name.len()))
            .find(|&at| {
                zip[at..].starts_with(signature) && zip[at + name_at..].starts_with(name.as_bytes())
            })
            .unwrap_or_else(|| panic!("no header for {name}"))
    };
    (find(LOCAL_HEADER, 30), find(CENTRAL_HEADER, 46))
}

fn put_u32(zip: &mut [u8], at: usize, value: u32) {
    zip[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u16(zip: &mut [u8], at: usize, value: u16) {
    zip[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

struct Scene {
    root: tempfile::TempDir,
    zip: PathBuf,
    workspace: PathBuf,
}

fn scene(zip: &[u8]) -> Scene {
    let root = tempfile::tempdir().expect("tempdir");
    let path = root.path().join("upload.zip");
    fs::write(&path, zip).expect("write zip");
    let workspace = root.path().join("site");
    Scene {
        root,
        zip: path,
        workspace,
    }
}

impl Scene {
    fn ingest(&self, limits: &Limits) -> Result<devflow_ingest::IngestSummary, IngestError> {
        ingest(&self.zip, &self.workspace, limits)
    }

    /// The refusal, after checking that only the upload itself is left in the root.
    fn refused(&self, limits: &Limits) -> IngestError {
        let error = self.ingest(limits).expect_err("refused");
        let mut left: Vec<_> = fs::read_dir(self.root.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["upload.zip"], "after {error}");
        error
    }
}

#[test]
fn stops_an_entry_that_holds_more_than_its_header_declares() {
    // 8 MiB of zeros declared as 1000 bytes: under every limit on paper, a bomb in fact.
    let zeros = vec![0u8; 8 << 20];
    let mut zip = build(
        &[
            Item::File("index.html", b"<!doctype html>"),
            Item::File("zeros.bin", &zeros),
        ],
        CompressionMethod::Deflated,
        0o644,
    );
    let (local, central) = headers_of(&zip, "zeros.bin");
    put_u32(&mut zip, local + 22, 1000);
    put_u32(&mut zip, central + 24, 1000);
    let scene = scene(&zip);
    let error = scene.refused(&Limits::default());
    assert_eq!(error.entry(), Some("zeros.bin"), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::BadArchive, "{error:?}");
    assert!(
        matches!(
            error,
            IngestError::SizeMismatch {
                declared: 1000,
                more: true,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn rejects_an_entry_whose_data_fails_its_checksum() {
    let mut zip = build(
        &[Item::File(
            "index.html",
            b"<!doctype html><title>ok</title>",
        )],
        CompressionMethod::Stored,
        0o644,
    );
    let (local, _) = headers_of(&zip, "index.html");
    let data = local + 30 + "index.html".len();
    zip[data + 5] ^= 0xff;
    let error = scene(&zip).refused(&Limits::default());
    assert!(
        matches!(error, IngestError::CorruptEntry { .. }),
        "{error:?}"
    );
    assert_eq!(error.entry(), Some("index.html"));
}

#[test]
fn rejects_a_compression_method_it_does_not_read_by_name() {
    let mut zip = build(
        &[Item::File("index.html", b"<!doctype html>")],
        CompressionMethod::Stored,
        0o644,
    );
    let (local, central) = headers_of(&zip, "index.html");
    put_u16(&mut zip, local + 8, 12);
    put_u16(&mut zip, central + 10, 12);
    let error = scene(&zip).refused(&Limits::default());
    assert!(
        matches!(error, IngestError::UnsupportedCompression { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("compressed with bzip2"),
        "{error}"
    );
}

#[test]
fn rejects_a_real_zip_with_names_that_differ_only_in_case() {
    let zip = build(
        &[
            Item::File("index.html", b"a"),
            Item::File("Index.html", b"b"),
        ],
        CompressionMethod::Deflated,
        0o644,
    );
    let error = scene(&zip).refused(&Limits::default());
    assert!(matches!(error, IngestError::CaseClash { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("Index.html"));
}

#[test]
fn rejects_a_real_zip_with_a_link_to_a_file_inside_the_site() {
    let zip = build(
        &[
            Item::File("index.html", b"a"),
            Item::Link("home.html", "index.html"),
        ],
        CompressionMethod::Deflated,
        0o644,
    );
    let error = scene(&zip).refused(&Limits::default());
    assert!(matches!(error, IngestError::Symlink { .. }), "{error:?}");
}

#[test]
fn refuses_a_workspace_that_already_has_files_and_leaves_them_alone() {
    let zip = build(
        &[Item::File("index.html", b"new")],
        CompressionMethod::Deflated,
        0o644,
    );
    let scene = scene(&zip);
    fs::create_dir(&scene.workspace).expect("mkdir");
    fs::write(scene.workspace.join("mine.txt"), b"keep me").expect("write");
    let error = scene.ingest(&Limits::default()).expect_err("refused");
    assert!(
        matches!(error, IngestError::WorkspaceNotEmpty { .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Workspace);
    assert_eq!(
        fs::read(scene.workspace.join("mine.txt")).expect("read"),
        b"keep me"
    );
    assert_eq!(fs::read_dir(&scene.workspace).expect("read_dir").count(), 1);
}

#[test]
fn refuses_a_workspace_that_is_a_file() {
    let zip = build(
        &[Item::File("index.html", b"new")],
        CompressionMethod::Deflated,
        0o644,
    );
    let scene = scene(&zip);
    fs::write(&scene.workspace, b"not a folder").expect("write");
    let error = scene.ingest(&Limits::default()).expect_err("refused");
    assert!(
        matches!(error, IngestError::WorkspaceNotFolder { .. }),
        "{error:?}"
    );
    assert_eq!(fs::read(&scene.workspace).expect("read"), b"not a folder");
}

#[test]
fn creates_the_workspace_and_its_missing_parents() {
    let zip = build(
        &[Item::File("index.html", b"hello")],
        CompressionMethod::Deflated,
        0o644,
    );
    let scene = scene(&zip);
    let workspace = scene.root.path().join("sessions/abc/site");
    let summary = ingest(&scene.zip, &workspace, &Limits::default()).expect("accepted");
    assert_eq!((summary.files, summary.bytes), (1, 5));
    assert_eq!(
        fs::read(workspace.join("index.html")).expect("read"),
        b"hello"
    );
    assert_eq!(
        fs::read_dir(workspace.parent().expect("parent"))
            .expect("read_dir")
            .count(),
        1
    );
}

#[test]
fn unpacks_non_ascii_names_and_strips_their_wrapper_folder() {
    let zip = build(
        &[
            Item::Folder("サイト/"),
            Item::File("サイト/見出し.html", "見出し".as_bytes()),
        ],
        CompressionMethod::Deflated,
        0o644,
    );
    let scene = scene(&zip);
    scene.ingest(&Limits::default()).expect("accepted");
    assert_eq!(
        fs::read_to_string(scene.workspace.join("見出し.html")).expect("read"),
        "見出し"
    );
}

#[cfg(unix)]
#[test]
fn ignores_execute_and_setuid_bits_in_the_zip() {
    use std::os::unix::fs::PermissionsExt;
    let zip = build(
        &[Item::File("run.sh", b"#!/bin/sh\n")],
        CompressionMethod::Deflated,
        0o6755,
    );
    let scene = scene(&zip);
    scene.ingest(&Limits::default()).expect("accepted");
    let mode = fs::metadata(scene.workspace.join("run.sh"))
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7111, 0, "mode {mode:o}");
}

#[cfg(unix)]
#[test]
fn keeps_the_permissions_of_an_existing_empty_workspace() {
    use std::os::unix::fs::PermissionsExt;
    let zip = build(
        &[Item::File("index.html", b"x")],
        CompressionMethod::Deflated,
        0o644,
    );
    let scene = scene(&zip);
    fs::create_dir(&scene.workspace).expect("mkdir");
    fs::set_permissions(&scene.workspace, fs::Permissions::from_mode(0o750)).expect("chmod");
    scene.ingest(&Limits::default()).expect("accepted");
    let mode = fs::metadata(&scene.workspace)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
}

#[test]
fn names_what_an_upload_that_is_not_a_zip_looks_like() {
    for (bytes, looks_like) in [
        (&b""[..], "an empty file"),
        (
            &b"\x1f\x8b\x08\x00rest of a tarball"[..],
            "a gzip file, such as a .tar.gz",
        ),
        (&b"Rar!\x1a\x07\x00"[..], "a RAR archive"),
    ] {
        let error = scene(bytes).refused(&Limits::default());
        assert!(
            matches!(error, IngestError::NotAZip { looks_like: Some(kind) } if kind == looks_like),
            "{error:?}"
        );
    }
    let error = scene(b"<!doctype html>").refused(&Limits::default());
    assert!(
        matches!(error, IngestError::NotAZip { looks_like: None }),
        "{error:?}"
    );
}

#[test]
fn reports_a_missing_upload_as_an_io_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let error = ingest(
        &root.path().join("nope.zip"),
        &root.path().join("site"),
        &Limits::default(),
    )
    .expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Io, "{error:?}");
    assert!(!root.path().join("site").exists());
}

/// Every path under `dir`, relative to `root`; panics on a link.
fn everything_under(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let kind = fs::symlink_metadata(&path).expect("metadata").file_type();
        assert!(!kind.is_symlink(), "link created at {}", path.display());
        found.push(
            path.strip_prefix(root)
                .expect("inside")
                .to_string_lossy()
                .into_owned(),
        );
        if kind.is_dir() {
            everything_under(root, &path, found);
        }
    }
}

/// Mostly ordinary names, with `..`, `.`, absolute paths and Windows spellings mixed in.
fn hostile_name() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        8 => "[a-c]{1,2}",
        1 => Just("A".to_string()),
        1 => Just("é".to_string()),
        3 => Just("..".to_string()),
        1 => Just(".".to_string()),
        2 => prop::sample::select(vec!["", "C:", "..\\x", "__MACOSX"]).prop_map(String::from),
    ];
    (
        proptest::collection::vec(part, 1..5),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(parts, absolute)| {
            let name = parts.join("/");
            if absolute {
                format!("/{name}")
            } else {
                name
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn nothing_is_ever_written_outside_the_workspace(
        items in proptest::collection::vec((hostile_name(), prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)]), 1..6)
    ) {
        let items: Vec<Item<'_>> = items
            .iter()
            .map(|(name, kind)| match kind {
                0 => Item::File(name, b"data"),
                1 => Item::Folder(name),
                _ => Item::Link(name, "../../../../../../../tmp"),
            })
            .collect();
        let zip = try_build(&items, CompressionMethod::Deflated, 0o644);
        prop_assume!(zip.is_ok());
        let root = tempfile::tempdir().expect("tempdir");
        // Deep enough that any `..` chain these names can make still lands inside `root`.
        let workspace = root.path().join("p1/p2/p3/p4/p5/site");
        fs::create_dir_all(workspace.parent().expect("parent")).expect("mkdir");
        let upload = root.path().join("p1/upload.zip");
        fs::write(&upload, zip.expect("zip")).expect("write");

        let outcome = ingest(&upload, &workspace, &Limits::default());
        let mut found = Vec::new();
        everything_under(root.path(), root.path(), &mut found);
        let scaffolding = ["p1", "p1/upload.zip", "p1/p2", "p1/p2/p3", "p1/p2/p3/p4", "p1/p2/p3/p4/p5"];
        for path in &found {
            let inside = path == "p1/p2/p3/p4/p5/site" || path.starts_with("p1/p2/p3/p4/p5/site/");
            prop_assert!(inside || scaffolding.contains(&path.as_str()), "{path} written ({outcome:?})");
            if outcome.is_err() {
                prop_assert!(!inside, "{path} written by a refused zip ({outcome:?})");
            }
        }
    }
}
