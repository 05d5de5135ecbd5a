//! Every zip in `shared/fixtures/zips` against the outcome its README table expects: the
//! good ones unpack to exactly their site folder, the hostile ones are refused naming the
//! hostile entry, and a refusal leaves the workspace as it was (absent, or empty) with no
//! staging folder beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use devflow_ingest::{ingest, ErrorKind, IngestError, IngestSummary, Limits};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

fn fixture_zip(name: &str) -> PathBuf {
    let path = fixtures().join("zips").join(name);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// Every file under `root` (relative path → bytes), and every folder. Panics on a link.
fn tree(root: &Path) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>) {
    fn walk(
        root: &Path,
        dir: &Path,
        files: &mut BTreeMap<String, Vec<u8>>,
        folders: &mut BTreeSet<String>,
    ) {
        for child in fs::read_dir(dir).expect("read_dir") {
            let child = child.expect("dir entry");
            let path = child.path();
            let relative = path
                .strip_prefix(root)
                .expect("inside root")
                .to_string_lossy()
                .into_owned();
            let kind = fs::symlink_metadata(&path).expect("metadata").file_type();
            assert!(!kind.is_symlink(), "a link was created: {relative}");
            if kind.is_dir() {
                folders.insert(relative);
                walk(root, &path, files, folders);
            } else {
                files.insert(relative, fs::read(&path).expect("read"));
            }
        }
    }
    let (mut files, mut folders) = (BTreeMap::new(), BTreeSet::new());
    walk(root, root, &mut files, &mut folders);
    (files, folders)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Unpacks a fixture into a fresh, absent workspace and checks nothing else was left
/// beside it.
fn accept(zip: &str) -> (tempfile::TempDir, PathBuf, IngestSummary) {
    let root = tempfile::tempdir().expect("tempdir");
    let workspace = root.path().join("site");
    let summary = ingest(&fixture_zip(zip), &workspace, &Limits::default())
        .unwrap_or_else(|error| panic!("{zip} was refused: {error}"));
    assert_eq!(
        names_in(root.path()),
        ["site"],
        "only the workspace is left"
    );
    (root, workspace, summary)
}

/// Ingests a fixture twice, into an absent and into an empty workspace; both must be
/// refused the same way and leave the workspace exactly as it was.
fn reject(zip: &str) -> IngestError {
    let root = tempfile::tempdir().expect("tempdir");
    let absent = root.path().join("absent");
    let error = ingest(&fixture_zip(zip), &absent, &Limits::default())
        .err()
        .unwrap_or_else(|| panic!("{zip} was accepted"));
    assert!(
        !absent.exists(),
        "{zip}: a refused zip created the workspace"
    );
    assert!(
        names_in(root.path()).is_empty(),
        "{zip}: left {:?}",
        names_in(root.path())
    );

    let empty = root.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    let again = ingest(&fixture_zip(zip), &empty, &Limits::default())
        .err()
        .unwrap_or_else(|| panic!("{zip} was accepted into an empty workspace"));
    assert_eq!(again.to_string(), error.to_string());
    assert!(
        names_in(&empty).is_empty(),
        "{zip}: wrote {:?}",
        names_in(&empty)
    );
    assert_eq!(
        names_in(root.path()),
        ["empty"],
        "{zip}: a staging folder was left"
    );

    let message = error.to_string();
    assert!(
        !message.chars().any(char::is_control),
        "{zip}: message {message:?}"
    );
    error
}

fn assert_site_equals(workspace: &Path, site: &str) {
    let (expected_files, expected_folders) = tree(&fixtures().join("sites").join(site));
    let (files, folders) = tree(workspace);
    let names = |map: &BTreeMap<String, Vec<u8>>| map.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&files), names(&expected_files));
    assert!(
        files == expected_files,
        "file contents differ from sites/{site}"
    );
    assert_eq!(folders, expected_folders);
}

#[test]
fn every_fixture_zip_has_an_expected_outcome_here() {
    let listed: BTreeSet<String> = fs::read_dir(fixtures().join("zips"))
        .expect("zips folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".zip"))
        .collect();
    let covered: BTreeSet<String> = [
        "html5-boilerplate.zip",
        "simple-sidebar.zip",
        "vite-vanilla.zip",
        "wrapped.zip",
        "macos-finder.zip",
        "zip-slip.zip",
        "absolute-path.zip",
        "windows-backslash.zip",
        "windows-drive.zip",
        "symlink.zip",
        "symlink-dir-escape.zip",
        "bomb-ratio.zip",
        "too-many-entries.zip",
        "deep-nesting.zip",
        "duplicate-names.zip",
        "truncated.zip",
        "empty.zip",
        "not-a-zip.zip",
        "encrypted.zip",
        "nul-in-name.zip",
        "control-chars.zip",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        listed, covered,
        "a fixture zip was added or removed: give it a test"
    );
}

// ---- good zips: accept -------------------------------------------------------------

#[test]
fn accepts_html5_boilerplate_zip_as_exactly_its_site_folder() {
    let (_root, workspace, summary) = accept("html5-boilerplate.zip");
    assert_site_equals(&workspace, "html5-boilerplate");
    assert_eq!(summary.files, 19);
    assert_eq!(summary.bytes, 18_877);
    for file in ["index.html", "css/style.css", "js/app.js"] {
        assert!(workspace.join(file).is_file(), "{file}");
    }
}

#[test]
fn accepts_simple_sidebar_zip_as_exactly_its_site_folder() {
    let (_root, workspace, summary) = accept("simple-sidebar.zip");
    assert_site_equals(&workspace, "simple-sidebar");
    assert_eq!(summary.bytes, 267_598);
}

#[test]
fn accepts_vite_vanilla_zip_with_its_dev_script_at_the_workspace_root() {
    let (_root, workspace, _) = accept("vite-vanilla.zip");
    assert_site_equals(&workspace, "vite-vanilla");
    // Runtime detection reads this file; it must sit at the root, not in a subfolder.
    let package = fs::read_to_string(workspace.join("package.json")).expect("package.json");
    assert!(package.contains(r#""dev": "vite""#), "{package}");
    assert!(workspace.join(".gitignore").is_file());
}

#[test]
fn accepts_wrapped_zip_and_strips_the_single_wrapper_folder() {
    let (_root, wrapped, wrapped_summary) = accept("wrapped.zip");
    let (_other, plain, plain_summary) = accept("html5-boilerplate.zip");
    assert_eq!(tree(&wrapped), tree(&plain));
    assert_eq!(wrapped_summary, plain_summary);
    assert!(!wrapped.join("html5-boilerplate-main").exists());
}

#[test]
fn accepts_macos_finder_zip_without_its_macos_metadata() {
    let (_root, workspace, _) = accept("macos-finder.zip");
    assert_site_equals(&workspace, "simple-sidebar");
    assert!(!workspace.join("__MACOSX").exists());
    assert!(!workspace.join(".DS_Store").exists());
}

#[cfg(unix)]
#[test]
fn unpacked_files_are_plain_readable_files() {
    use std::os::unix::fs::PermissionsExt;
    let (_root, workspace, _) = accept("html5-boilerplate.zip");
    let (files, _) = tree(&workspace);
    for file in files.keys() {
        let mode = fs::metadata(workspace.join(file))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7111, 0, "{file} is executable or setuid: {mode:o}");
    }
    let mode = fs::metadata(&workspace)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "workspace mode {mode:o}");
}

// ---- bad zips: reject --------------------------------------------------------------

#[test]
fn rejects_zip_slip_zip_as_leaving_the_site_folder() {
    let error = reject("zip-slip.zip");
    assert!(matches!(error, IngestError::ParentDir { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("../../evil.txt"));
    assert_eq!(
        error.to_string(),
        "entry ../../evil.txt leaves the site folder"
    );
    assert_eq!(error.kind(), ErrorKind::UnsafeEntry);
}

#[test]
fn rejects_absolute_path_zip() {
    let error = reject("absolute-path.zip");
    assert!(
        matches!(error, IngestError::AbsolutePath { .. }),
        "{error:?}"
    );
    assert_eq!(error.entry(), Some("/etc/evil"));
}

#[test]
fn rejects_windows_backslash_zip_as_leaving_the_site_folder() {
    let error = reject("windows-backslash.zip");
    assert!(matches!(error, IngestError::ParentDir { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("..\\evil.txt"));
}

#[test]
fn rejects_windows_drive_zip() {
    let error = reject("windows-drive.zip");
    assert!(
        matches!(error, IngestError::DriveLetter { .. }),
        "{error:?}"
    );
    assert_eq!(error.entry(), Some("C:\\Windows\\evil.txt"));
}

#[test]
fn rejects_symlink_zip() {
    let error = reject("symlink.zip");
    assert!(matches!(error, IngestError::Symlink { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("passwd"));
}

#[test]
fn rejects_symlink_dir_escape_zip_before_writing_through_the_link() {
    let pwned = Path::new("/tmp/zip-fixture-pwned.txt");
    let there_before = pwned.exists();
    let error = reject("symlink-dir-escape.zip");
    assert!(matches!(error, IngestError::Symlink { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("escape"));
    if !there_before {
        assert!(
            !pwned.exists(),
            "the two-step escape wrote {}",
            pwned.display()
        );
    }
}

#[test]
fn rejects_bomb_ratio_zip_from_the_central_directory() {
    let started = std::time::Instant::now();
    let error = reject("bomb-ratio.zip");
    assert!(
        matches!(
            error,
            IngestError::FileTooLarge {
                size: 1_073_741_824,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.entry(), Some("zeros.bin"));
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    // Refused from the headers: inflating 1 GiB twice would take far longer.
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn rejects_bomb_ratio_zip_on_its_ratio_when_size_limits_would_allow_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let workspace = root.path().join("site");
    let roomy = Limits {
        max_total_bytes: 2 << 30,
        max_file_bytes: 2 << 30,
        ..Limits::default()
    };
    let error = ingest(&fixture_zip("bomb-ratio.zip"), &workspace, &roomy).expect_err("refused");
    assert!(
        matches!(
            error,
            IngestError::RatioTooHigh {
                ratio: 1028,
                limit: 100,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(names_in(root.path()).is_empty());
}

#[test]
fn rejects_too_many_entries_zip() {
    let error = reject("too-many-entries.zip");
    assert!(
        matches!(
            error,
            IngestError::TooManyEntries {
                count: 20_001,
                limit: 10_000
            }
        ),
        "{error:?}"
    );
}

#[test]
fn rejects_deep_nesting_zip() {
    let error = reject("deep-nesting.zip");
    assert!(
        matches!(
            error,
            IngestError::TooDeep {
                depth: 101,
                limit: 32,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .entry()
            .is_some_and(|entry| entry.ends_with("d/d/deep.txt")),
        "{error:?}"
    );
}

#[test]
fn rejects_duplicate_names_zip_naming_the_duplicate() {
    let error = reject("duplicate-names.zip");
    assert!(matches!(error, IngestError::Duplicate { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("index.html"));
}

#[test]
fn rejects_truncated_zip_as_damaged() {
    let error = reject("truncated.zip");
    assert!(matches!(error, IngestError::Corrupt { .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::BadArchive);
}

#[test]
fn rejects_empty_zip_as_holding_no_site() {
    let error = reject("empty.zip");
    assert!(matches!(error, IngestError::NoSite), "{error:?}");
}

#[test]
fn rejects_not_a_zip_zip_by_its_content() {
    let error = reject("not-a-zip.zip");
    assert!(
        matches!(
            error,
            IngestError::NotAZip {
                looks_like: Some("a PNG image")
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the upload is not a zip archive (it looks like a PNG image); upload the site as a .zip file"
    );
}

#[test]
fn rejects_encrypted_zip_without_asking_for_a_password() {
    let error = reject("encrypted.zip");
    assert!(matches!(error, IngestError::Encrypted { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("index.html"));
    assert!(!error.to_string().contains("enter"), "{error}");
}

#[test]
fn rejects_nul_in_name_zip() {
    let error = reject("nul-in-name.zip");
    assert!(matches!(error, IngestError::NulInName { .. }), "{error:?}");
    assert_eq!(error.entry(), Some("evil.html\\u{0}.png"));
}

#[test]
fn rejects_control_chars_zip() {
    let error = reject("control-chars.zip");
    assert!(
        matches!(error, IngestError::ControlCharacter { .. }),
        "{error:?}"
    );
    assert_eq!(error.entry(), Some("bad\\u{1b}[31mred\\u{a}name\\u{d}.txt"));
}

// ---- what the uploader reads --------------------------------------------------------

#[test]
fn fixture_outcomes_read_as_the_uploader_will_see_them() {
    let mut zips: Vec<String> = fs::read_dir(fixtures().join("zips"))
        .expect("zips folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".zip"))
        .collect();
    zips.sort();
    let mut report = String::new();
    for zip in &zips {
        let root = tempfile::tempdir().expect("tempdir");
        let line = match ingest(
            &fixture_zip(zip),
            &root.path().join("site"),
            &Limits::default(),
        ) {
            Ok(summary) => format!("accepted: {} files, {} bytes", summary.files, summary.bytes),
            Err(error) => format!("refused ({:?}): {error}", error.kind()),
        };
        report.push_str(&format!("{zip}\n    {line}\n"));
    }
    expect_test::expect![[r#"
        absolute-path.zip
            refused (UnsafeEntry): entry /etc/evil is an absolute path; paths in the zip must be relative to the site folder
        bomb-ratio.zip
            refused (TooLarge): entry zeros.bin unpacks to 1 GiB, over the 50 MiB limit for one file
        control-chars.zip
            refused (UnsafeEntry): entry bad\u{1b}[31mred\u{a}name\u{d}.txt has a control character in its name; rename it
        deep-nesting.zip
            refused (TooLarge): entry d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/deep.txt is nested 101 levels deep, more than the 32 allowed
        duplicate-names.zip
            refused (UnsafeEntry): entry index.html appears twice in the zip, and which copy wins depends on the tool; keep one
        empty.zip
            refused (BadArchive): the zip contains no files; a site needs at least an index.html or a package.json
        encrypted.zip
            refused (BadArchive): entry index.html is password-protected; devflow does not open encrypted zips, so zip the site again without a password
        html5-boilerplate.zip
            accepted: 19 files, 18877 bytes
        macos-finder.zip
            accepted: 6 files, 267598 bytes
        not-a-zip.zip
            refused (BadArchive): the upload is not a zip archive (it looks like a PNG image); upload the site as a .zip file
        nul-in-name.zip
            refused (UnsafeEntry): entry evil.html\u{0}.png has a NUL byte in its name, which would cut the name short; remove it
        simple-sidebar.zip
            accepted: 6 files, 267598 bytes
        symlink-dir-escape.zip
            refused (UnsafeEntry): entry escape is a symbolic link; devflow never creates links from a zip, so put the file itself in the zip
        symlink.zip
            refused (UnsafeEntry): entry passwd is a symbolic link; devflow never creates links from a zip, so put the file itself in the zip
        too-many-entries.zip
            refused (TooLarge): the zip has 20001 entries, more than the 10000 allowed; leave out what the site does not need (node_modules, build output)
        truncated.zip
            refused (BadArchive): the zip is damaged or incomplete (its table of contents at the end is missing, so it was probably cut short in transfer); create it again and re-upload it
        vite-vanilla.zip
            accepted: 13 files, 63053 bytes
        windows-backslash.zip
            refused (UnsafeEntry): entry ..\evil.txt leaves the site folder
        windows-drive.zip
            refused (UnsafeEntry): entry C:\Windows\evil.txt starts with a Windows drive letter; paths in the zip must be relative to the site folder
        wrapped.zip
            accepted: 19 files, 18877 bytes
        zip-slip.zip
            refused (UnsafeEntry): entry ../../evil.txt leaves the site folder
    "#]].assert_eq(&report);
}
