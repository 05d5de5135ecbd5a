//! The pure half of ingest: from the central directory alone (names as raw bytes, declared
//! sizes, modes) decide whether a zip may be unpacked at all, and if so where each entry
//! goes. Invariant: every path in an [`ExtractionPlan`] is relative, made only of normal
//! components, and stays inside the site folder; a refused zip is refused before one byte is
//! written. No IO here: the edge in `extract` hands in values and gets a plan back.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;

use crate::error::{display_name, is_forbidden_char, IngestError};
use crate::limits::{Limits, MAX_NAME_BYTES, MAX_PATH_BYTES, RATIO_EXEMPT_BYTES};

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// The folder macOS Finder adds to every zip for AppleDouble metadata.
const MACOS_METADATA_FOLDER: &str = "__MACOSX";
/// Finder's per-folder view settings file.
const MACOS_FOLDER_SETTINGS: &str = ".DS_Store";

/// How an entry's data is stored. Only these two are read; see [`Compression::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Stored,
    Deflated,
    /// Any other method number from the header (APPNOTE 4.4.5). Refused with its name.
    Other(u16),
}

/// One central directory record, as the archive states it. Nothing here is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// The name exactly as stored (a NUL or a stray byte is the point of some attacks).
    pub name: Vec<u8>,
    /// `st_mode` (file type and permissions) for zips made on Unix, a synthesized one for
    /// MS-DOS attributes, `None` when the archive says nothing.
    pub unix_mode: Option<u32>,
    pub compression: Compression,
    pub compressed_size: u64,
    /// Declared uncompressed size.
    pub size: u64,
    /// General-purpose flag bit 0.
    pub encrypted: bool,
}

/// What an entry becomes in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlannedKind {
    Folder,
    File,
}

/// One entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEntry {
    /// Index into the entries handed to [`plan`].
    pub index: usize,
    /// The entry's name as the zip spells it, escaped for messages.
    pub name: String,
    /// Where it goes: relative to the site folder, `/`-separated, never empty, no `.`/`..`.
    pub path: String,
    pub kind: PlannedKind,
    /// Declared sizes, which the edge holds the decompressed bytes to.
    pub size: u64,
    pub compressed_size: u64,
}

/// The decision for an acceptable zip: what to write, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractionPlan {
    pub entries: Vec<PlannedEntry>,
    /// The single top-level folder that was stripped (GitHub "Download ZIP", Finder
    /// "Compress"), if there was one.
    pub unwrapped: Option<String>,
    /// Entries left out as macOS metadata (`__MACOSX/…`, `.DS_Store`).
    pub skipped: usize,
    /// Files to write and the sum of their declared sizes.
    pub files: u64,
    pub bytes: u64,
}

/// An entry that passed the per-entry checks, before junk removal and unwrapping.
struct Checked {
    index: usize,
    name: String,
    components: Vec<String>,
    kind: PlannedKind,
    size: u64,
    compressed_size: u64,
}

/// Decides everything that can be decided before extraction. The first problem found wins,
/// so the error names one entry; entries are checked in archive order.
pub fn plan(entries: &[ArchiveEntry], limits: &Limits) -> Result<ExtractionPlan, IngestError> {
    if entries.len() > limits.max_entries {
        return Err(IngestError::TooManyEntries {
            count: entries.len(),
            limit: limits.max_entries,
        });
    }

    let mut checked = Vec::with_capacity(entries.len());
    let mut total: u64 = 0;
    for (index, entry) in entries.iter().enumerate() {
        let Some(item) = check_entry(index, entry, limits, &mut total)? else {
            continue;
        };
        checked.push(item);
    }

    let before = checked.len();
    checked.retain(|item| !is_macos_metadata(&item.components));
    let skipped = before - checked.len();

    check_clashes(&checked)?;

    let unwrapped = single_top_folder(&checked);
    let strip = usize::from(unwrapped.is_some());
    let mut planned = Vec::with_capacity(checked.len());
    let (mut files, mut bytes) = (0u64, 0u64);
    for item in checked {
        if item.components.len() <= strip {
            // The wrapper folder's own entry.
            continue;
        }
        if item.kind == PlannedKind::File {
            files += 1;
            bytes = bytes.saturating_add(item.size);
        }
        planned.push(PlannedEntry {
            index: item.index,
            name: item.name,
            path: item.components[strip..].join("/"),
            kind: item.kind,
            size: item.size,
            compressed_size: item.compressed_size,
        });
    }
    if files == 0 {
        return Err(IngestError::NoSite);
    }
    Ok(ExtractionPlan {
        entries: planned,
        unwrapped,
        skipped,
        files,
        bytes,
    })
}

/// Name, kind, encryption, method and size checks of one entry. `None` for an entry that
/// names the site folder itself (`./`), which has nothing to write.
fn check_entry(
    index: usize,
    entry: &ArchiveEntry,
    limits: &Limits,
    total: &mut u64,
) -> Result<Option<Checked>, IngestError> {
    let name = display_name(&entry.name);
    let (components, names_folder) = check_name(&entry.name, &name, limits)?;

    let kind = match entry.unix_mode.map(|mode| mode & S_IFMT) {
        Some(S_IFLNK) => return Err(IngestError::Symlink { entry: name }),
        Some(S_IFDIR) => PlannedKind::Folder,
        None | Some(0) | Some(S_IFREG) if names_folder => PlannedKind::Folder,
        None | Some(0) | Some(S_IFREG) => PlannedKind::File,
        Some(_) => return Err(IngestError::SpecialFile { entry: name }),
    };
    if entry.encrypted {
        return Err(IngestError::Encrypted { entry: name });
    }
    if kind == PlannedKind::File {
        if let Compression::Other(method) = entry.compression {
            return Err(IngestError::UnsupportedCompression {
                entry: name,
                method: method_name(method),
            });
        }
    }

    if entry.size > limits.max_file_bytes {
        return Err(IngestError::FileTooLarge {
            entry: name,
            size: entry.size,
            limit: limits.max_file_bytes,
        });
    }
    if exceeds_ratio(entry.size, entry.compressed_size, limits.max_ratio) {
        return Err(IngestError::RatioTooHigh {
            entry: name,
            ratio: entry.size / entry.compressed_size.max(1),
            limit: limits.max_ratio,
        });
    }
    *total = total.saturating_add(entry.size);
    if *total > limits.max_total_bytes {
        return Err(IngestError::TotalTooLarge {
            entry: name,
            limit: limits.max_total_bytes,
        });
    }

    if components.is_empty() {
        return match kind {
            PlannedKind::Folder => Ok(None),
            PlannedKind::File => Err(IngestError::MalformedPath {
                entry: name,
                why: "has no file name",
            }),
        };
    }
    Ok(Some(Checked {
        index,
        name,
        components,
        kind,
        size: entry.size,
        compressed_size: entry.compressed_size,
    }))
}

/// True when `size` bytes from `compressed` bytes is more expansion than `max_ratio` allows.
/// Shared with the streaming edge, which applies it to the bytes actually produced.
pub(crate) fn exceeds_ratio(size: u64, compressed: u64, max_ratio: u64) -> bool {
    size > RATIO_EXEMPT_BYTES && size > compressed.saturating_mul(max_ratio)
}

/// Splits a raw name into its components, refusing every spelling that could leave the
/// site folder or mean different things to different tools. The bool is a trailing `/`.
fn check_name(raw: &[u8], name: &str, limits: &Limits) -> Result<(Vec<String>, bool), IngestError> {
    let entry = || name.to_string();
    if raw.contains(&0) {
        return Err(IngestError::NulInName { entry: entry() });
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(IngestError::NameNotUtf8 { entry: entry() });
    };
    if text.chars().any(is_forbidden_char) {
        return Err(IngestError::ControlCharacter { entry: entry() });
    }
    if text.is_empty() {
        return Err(IngestError::MalformedPath {
            entry: entry(),
            why: "has an empty name",
        });
    }
    // `..` with either separator first: that is the message that says what would happen.
    if text.split(['/', '\\']).any(|part| part == "..") {
        return Err(IngestError::ParentDir { entry: entry() });
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(IngestError::DriveLetter { entry: entry() });
    }
    if text.starts_with('/') {
        return Err(IngestError::AbsolutePath { entry: entry() });
    }
    if text.contains('\\') {
        return Err(IngestError::Backslash { entry: entry() });
    }

    let names_folder = text.ends_with('/');
    let body = text.strip_suffix('/').unwrap_or(text);
    let mut components = Vec::new();
    for part in body.split('/') {
        match part {
            "" => {
                return Err(IngestError::MalformedPath {
                    entry: entry(),
                    why: "has an empty folder name (`//`)",
                })
            }
            "." => {}
            _ if part.len() > MAX_NAME_BYTES => {
                return Err(IngestError::NameTooLong { entry: entry() })
            }
            _ => components.push(part.to_string()),
        }
    }
    if body.len() > MAX_PATH_BYTES {
        return Err(IngestError::NameTooLong { entry: entry() });
    }
    if components.len() > limits.max_depth {
        return Err(IngestError::TooDeep {
            entry: entry(),
            depth: components.len(),
            limit: limits.max_depth,
        });
    }
    Ok((components, names_folder))
}

/// Finder's `__MACOSX/` tree and `.DS_Store` files: not part of any site.
fn is_macos_metadata(components: &[String]) -> bool {
    components
        .first()
        .is_some_and(|first| first == MACOS_METADATA_FOLDER)
        || components
            .last()
            .is_some_and(|last| last == MACOS_FOLDER_SETTINGS)
}

/// Refuses two entries at one path, two paths that only differ in case (one file on a
/// case-insensitive file system), and a file where another entry needs a folder.
fn check_clashes(items: &[Checked]) -> Result<(), IngestError> {
    let name_of = |i: usize| items[i].name.clone();
    // Keyed by kind too, so `a` and `a/` are reported as a file/folder clash.
    let mut seen: HashMap<(String, PlannedKind), usize> = HashMap::new();
    let mut files: HashMap<String, usize> = HashMap::new();
    let mut folders: HashMap<String, usize> = HashMap::new();
    let mut folded: HashMap<String, (String, usize)> = HashMap::new();

    let mut check_case = |path: &str, i: usize| -> Result<(), IngestError> {
        match folded.entry(path.to_lowercase()) {
            MapEntry::Occupied(slot) => {
                let (spelling, j) = slot.get();
                if spelling != path {
                    return Err(IngestError::CaseClash {
                        entry: name_of(i),
                        other: name_of(*j),
                    });
                }
            }
            MapEntry::Vacant(slot) => {
                slot.insert((path.to_string(), i));
            }
        }
        Ok(())
    };

    for (i, item) in items.iter().enumerate() {
        let path = item.components.join("/");
        if seen.insert((path.clone(), item.kind), i).is_some() {
            return Err(IngestError::Duplicate { entry: name_of(i) });
        }
        let folder_count = match item.kind {
            PlannedKind::Folder => item.components.len(),
            PlannedKind::File => item.components.len() - 1,
        };
        for depth in 1..=folder_count {
            let folder = item.components[..depth].join("/");
            if let Some(&file) = files.get(&folder) {
                return Err(IngestError::FileFolderClash {
                    entry: name_of(file),
                    other: name_of(i),
                });
            }
            check_case(&folder, i)?;
            folders.entry(folder).or_insert(i);
        }
        if item.kind == PlannedKind::File {
            if let Some(&folder) = folders.get(&path) {
                return Err(IngestError::FileFolderClash {
                    entry: name_of(i),
                    other: name_of(folder),
                });
            }
            check_case(&path, i)?;
            files.insert(path, i);
        }
    }
    Ok(())
}

/// The folder every entry sits in, when there is exactly one and nothing else at the top:
/// the wrapper GitHub "Download ZIP" and Finder "Compress" add. Stripped once, not
/// recursively: a site whose only top-level item is a folder keeps that folder.
fn single_top_folder(items: &[Checked]) -> Option<String> {
    let first = items.first()?.components.first()?;
    let mut has_content = false;
    for item in items {
        if item.components.first() != Some(first) {
            return None;
        }
        match (item.components.len(), item.kind) {
            // A file with the wrapper's name at the top: there is no wrapper.
            (1, PlannedKind::File) => return None,
            (1, PlannedKind::Folder) => {}
            _ => has_content = true,
        }
    }
    has_content.then(|| first.clone())
}

/// The method's name for a message (APPNOTE 4.4.5).
fn method_name(method: u16) -> String {
    let name = match method {
        1 => "Shrink",
        2..=5 => "Reduce",
        6 => "Implode",
        9 => "Deflate64",
        10 => "PKWARE DCL Implode",
        12 => "bzip2",
        14 => "LZMA",
        18 => "IBM TERSE",
        19 => "IBM LZ77",
        93 => "Zstandard",
        95 => "XZ",
        96 => "JPEG",
        97 => "WavPack",
        98 => "PPMd",
        99 => "AES encryption",
        _ => return format!("compression method {method}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::{Component, Path};

    use proptest::prelude::*;

    const FILE: u32 = 0o100_644;
    const FOLDER: u32 = 0o040_755;
    const LINK: u32 = 0o120_777;

    fn entry(name: &str) -> ArchiveEntry {
        raw_entry(name.as_bytes())
    }

    fn raw_entry(name: &[u8]) -> ArchiveEntry {
        let folder = name.ends_with(b"/");
        ArchiveEntry {
            name: name.to_vec(),
            unix_mode: Some(if folder { FOLDER } else { FILE }),
            compression: if folder {
                Compression::Stored
            } else {
                Compression::Deflated
            },
            compressed_size: if folder { 0 } else { 40 },
            size: if folder { 0 } else { 100 },
            encrypted: false,
        }
    }

    fn entries(names: &[&str]) -> Vec<ArchiveEntry> {
        names.iter().map(|name| entry(name)).collect()
    }

    fn site(extra: ArchiveEntry) -> Vec<ArchiveEntry> {
        let mut list = entries(&["css/", "css/style.css", "index.html", "js/app.js"]);
        list.push(extra);
        list
    }

    fn refused(list: &[ArchiveEntry]) -> IngestError {
        match plan(list, &Limits::default()) {
            Ok(plan) => panic!("expected a refusal, got {plan:#?}"),
            Err(error) => error,
        }
    }

    fn paths(plan: &ExtractionPlan) -> Vec<&str> {
        plan.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn accepts_a_plain_site_at_the_zip_root() {
        let plan = plan(
            &entries(&["css/", "css/style.css", "index.html"]),
            &Limits::default(),
        )
        .expect("accepted");
        assert_eq!(paths(&plan), ["css", "css/style.css", "index.html"]);
        assert_eq!(plan.unwrapped, None);
        assert_eq!((plan.files, plan.bytes), (2, 200));
    }

    #[test]
    fn unwraps_a_single_top_level_folder() {
        let list = entries(&["site-main/", "site-main/index.html", "site-main/css/a.css"]);
        let plan = plan(&list, &Limits::default()).expect("accepted");
        assert_eq!(plan.unwrapped.as_deref(), Some("site-main"));
        assert_eq!(paths(&plan), ["index.html", "css/a.css"]);
    }

    #[test]
    fn unwraps_a_wrapper_without_its_own_folder_entry() {
        let plan = plan(&entries(&["w/index.html"]), &Limits::default()).expect("accepted");
        assert_eq!(plan.unwrapped.as_deref(), Some("w"));
        assert_eq!(paths(&plan), ["index.html"]);
    }

    #[test]
    fn unwraps_only_one_level() {
        let plan = plan(&entries(&["a/b/index.html"]), &Limits::default()).expect("accepted");
        assert_eq!(paths(&plan), ["b/index.html"]);
    }

    #[test]
    fn keeps_the_top_level_when_a_file_sits_beside_the_folder() {
        let plan = plan(
            &entries(&["site/index.html", "README.md"]),
            &Limits::default(),
        )
        .expect("accepted");
        assert_eq!(plan.unwrapped, None);
        assert_eq!(paths(&plan), ["site/index.html", "README.md"]);
    }

    #[test]
    fn skips_macos_metadata_and_still_finds_the_wrapper() {
        let list = entries(&[
            "site/",
            "site/.DS_Store",
            "site/index.html",
            "__MACOSX/",
            "__MACOSX/site/",
            "__MACOSX/site/._index.html",
        ]);
        let plan = plan(&list, &Limits::default()).expect("accepted");
        assert_eq!(plan.unwrapped.as_deref(), Some("site"));
        assert_eq!(paths(&plan), ["index.html"]);
        assert_eq!(plan.skipped, 4);
    }

    #[test]
    fn drops_dot_components_and_a_bare_root_entry() {
        let plan = plan(
            &entries(&["./", "./index.html", "css/./a.css"]),
            &Limits::default(),
        )
        .expect("accepted");
        assert_eq!(paths(&plan), ["index.html", "css/a.css"]);
    }

    #[test]
    fn accepts_non_ascii_names() {
        let plan = plan(&entries(&["見出し/ページ.html"]), &Limits::default()).expect("accepted");
        assert_eq!(paths(&plan), ["ページ.html"]);
    }

    #[test]
    fn rejects_parent_dir_entry() {
        let error = refused(&site(entry("../../etc/passwd")));
        assert!(matches!(error, IngestError::ParentDir { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "entry ../../etc/passwd leaves the site folder"
        );
        assert_eq!(error.entry(), Some("../../etc/passwd"));
    }

    #[test]
    fn rejects_parent_dir_in_the_middle_of_a_path() {
        let error = refused(&site(entry("css/../../x.css")));
        assert!(matches!(error, IngestError::ParentDir { .. }), "{error:?}");
    }

    #[test]
    fn rejects_parent_dir_written_with_backslashes() {
        let error = refused(&site(entry("..\\evil.txt")));
        assert!(matches!(error, IngestError::ParentDir { .. }), "{error:?}");
        assert_eq!(error.entry(), Some("..\\evil.txt"));
    }

    #[test]
    fn rejects_any_backslash_in_a_name() {
        let error = refused(&site(entry("css\\style.css")));
        assert!(matches!(error, IngestError::Backslash { .. }), "{error:?}");
    }

    #[test]
    fn rejects_absolute_paths() {
        for name in ["/etc/evil", "//server/share/x"] {
            let error = refused(&site(entry(name)));
            assert!(
                matches!(error, IngestError::AbsolutePath { .. }),
                "{name}: {error:?}"
            );
        }
    }

    #[test]
    fn rejects_windows_drive_letters() {
        for name in ["C:\\Windows\\evil.txt", "c:/evil.txt", "D:evil.txt"] {
            let error = refused(&site(entry(name)));
            assert!(
                matches!(error, IngestError::DriveLetter { .. }),
                "{name}: {error:?}"
            );
        }
    }

    #[test]
    fn rejects_nul_in_name() {
        let error = refused(&site(raw_entry(b"evil.html\x00.png")));
        assert!(matches!(error, IngestError::NulInName { .. }), "{error:?}");
        assert_eq!(error.entry(), Some("evil.html\\u{0}.png"));
    }

    #[test]
    fn rejects_control_characters_and_escapes_them_in_the_message() {
        let error = refused(&site(raw_entry(b"bad\x1b[31mred\nname\r.txt")));
        assert!(
            matches!(error, IngestError::ControlCharacter { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        for name in [
            "a\u{7f}.txt",
            "a\u{85}.txt",
            "invoice\u{202e}lmth.txt",
            "tab\there",
        ] {
            let error = refused(&site(entry(name)));
            assert!(
                matches!(error, IngestError::ControlCharacter { .. }),
                "{name:?}: {error:?}"
            );
        }
    }

    #[test]
    fn rejects_names_that_are_not_utf8() {
        // "見出し" in Shift_JIS, as a Japanese Windows Explorer of old wrote it.
        let error = refused(&site(raw_entry(b"\x8c\xa9\x8f\x6f\x82\xb5.html")));
        assert!(
            matches!(error, IngestError::NameNotUtf8 { .. }),
            "{error:?}"
        );
        assert_eq!(error.entry(), Some("\\x8c\\xa9\\x8fo\\x82\\xb5.html"));
    }

    #[test]
    fn rejects_empty_names_and_empty_components() {
        for name in ["", "css//a.css"] {
            let error = refused(&site(entry(name)));
            assert!(
                matches!(error, IngestError::MalformedPath { .. }),
                "{name:?}: {error:?}"
            );
        }
    }

    #[test]
    fn rejects_names_too_long_for_the_file_system() {
        let long_name = format!("{}.html", "a".repeat(300));
        let long_path = format!("{}/", "a".repeat(100)).repeat(11) + "index.html";
        for name in [long_name, long_path] {
            let error = refused(&site(entry(&name)));
            assert!(
                matches!(error, IngestError::NameTooLong { .. }),
                "{error:?}"
            );
        }
    }

    #[test]
    fn rejects_symlinks_wherever_they_point() {
        for name in ["passwd", "inside-link", "__MACOSX/link"] {
            let mut link = entry(name);
            link.unix_mode = Some(LINK);
            let error = refused(&site(link));
            assert!(
                matches!(error, IngestError::Symlink { .. }),
                "{name}: {error:?}"
            );
            assert_eq!(error.entry(), Some(name));
        }
    }

    #[test]
    fn rejects_device_pipe_and_socket_entries() {
        for mode in [0o010_644, 0o020_644, 0o060_644, 0o140_644] {
            let mut special = entry("special");
            special.unix_mode = Some(mode);
            let error = refused(&site(special));
            assert!(
                matches!(error, IngestError::SpecialFile { .. }),
                "{mode:o}: {error:?}"
            );
        }
    }

    #[test]
    fn treats_a_missing_file_type_by_the_name() {
        let mut dos_file = entry("about.html");
        dos_file.unix_mode = None;
        let mut bare_folder = entry("img/");
        bare_folder.unix_mode = Some(0o755);
        let plan = plan(&site_with(&[dos_file, bare_folder]), &Limits::default()).expect("ok");
        let kinds: Vec<_> = plan
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind))
            .collect();
        assert!(
            kinds.contains(&("about.html", PlannedKind::File)),
            "{kinds:?}"
        );
        assert!(kinds.contains(&("img", PlannedKind::Folder)), "{kinds:?}");
    }

    fn site_with(extra: &[ArchiveEntry]) -> Vec<ArchiveEntry> {
        let mut list = entries(&["index.html"]);
        list.extend_from_slice(extra);
        list
    }

    #[test]
    fn rejects_exact_duplicates() {
        let error = refused(&site(entry("index.html")));
        assert!(matches!(error, IngestError::Duplicate { .. }), "{error:?}");
        assert_eq!(error.entry(), Some("index.html"));
    }

    #[test]
    fn rejects_duplicates_that_differ_only_in_case() {
        let error = refused(&site(entry("INDEX.html")));
        match &error {
            IngestError::CaseClash { entry, other } => {
                assert_eq!(
                    (entry.as_str(), other.as_str()),
                    ("INDEX.html", "index.html")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_folders_that_differ_only_in_case() {
        let error = refused(&site(entry("CSS/print.css")));
        assert!(matches!(error, IngestError::CaseClash { .. }), "{error:?}");
    }

    #[test]
    fn rejects_a_file_where_a_folder_is_needed() {
        let error = refused(&entries(&["index.html", "a", "a/b.txt"]));
        match &error {
            IngestError::FileFolderClash { entry, other } => {
                assert_eq!((entry.as_str(), other.as_str()), ("a", "a/b.txt"));
            }
            other => panic!("{other:?}"),
        }
        let error = refused(&entries(&["index.html", "js/", "js"]));
        assert!(
            matches!(error, IngestError::FileFolderClash { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn accepts_a_folder_entry_after_files_inside_it() {
        let plan = plan(
            &entries(&["css/a.css", "css/", "index.html"]),
            &Limits::default(),
        )
        .expect("accepted");
        assert_eq!(plan.files, 2);
    }

    #[test]
    fn rejects_encrypted_entries() {
        let mut secret = entry("secret.html");
        secret.encrypted = true;
        let error = refused(&site(secret));
        assert!(matches!(error, IngestError::Encrypted { .. }), "{error:?}");
    }

    #[test]
    fn rejects_compression_methods_it_cannot_read() {
        let mut lzma = entry("big.js");
        lzma.compression = Compression::Other(14);
        let error = refused(&site(lzma));
        assert!(
            error.to_string().contains("compressed with LZMA"),
            "{error}"
        );
    }

    #[test]
    fn rejects_more_entries_than_the_limit() {
        let limits = Limits {
            max_entries: 3,
            ..Limits::default()
        };
        let error = plan(&entries(&["a", "b", "c", "d"]), &limits).expect_err("refused");
        assert!(
            matches!(error, IngestError::TooManyEntries { count: 4, limit: 3 }),
            "{error:?}"
        );
    }

    #[test]
    fn rejects_nesting_deeper_than_the_limit() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert!(plan(&entries(&["a/b/c.txt"]), &limits).is_ok());
        let error = plan(&entries(&["a/b/c/d.txt"]), &limits).expect_err("refused");
        assert!(
            matches!(
                error,
                IngestError::TooDeep {
                    depth: 4,
                    limit: 3,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn rejects_a_file_declared_larger_than_the_limit() {
        let mut big = entry("video.mp4");
        big.size = 60 * 1024 * 1024;
        big.compressed_size = big.size;
        let error = refused(&site(big));
        assert!(
            matches!(error, IngestError::FileTooLarge { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("60 MiB, over the 50 MiB limit"),
            "{error}"
        );
    }

    #[test]
    fn rejects_a_site_declared_larger_than_the_total_limit() {
        let limits = Limits {
            max_total_bytes: 250,
            ..Limits::default()
        };
        let error = plan(&entries(&["a", "b", "c"]), &limits).expect_err("refused");
        match error {
            IngestError::TotalTooLarge { entry, .. } => assert_eq!(entry, "c"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_a_compression_ratio_over_the_limit() {
        let mut bomb = entry("zeros.bin");
        bomb.size = 10 * 1024 * 1024;
        bomb.compressed_size = 10 * 1024;
        let error = refused(&site(bomb));
        assert!(
            matches!(
                error,
                IngestError::RatioTooHigh {
                    ratio: 1024,
                    limit: 100,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn lets_small_files_compress_as_well_as_they_like() {
        let mut spaces = entry("blank.txt");
        spaces.size = 512 * 1024;
        spaces.compressed_size = 600;
        assert!(plan(&site(spaces), &Limits::default()).is_ok());
    }

    #[test]
    fn rejects_a_zip_without_files() {
        for list in [
            vec![],
            entries(&["empty/"]),
            entries(&["__MACOSX/", "__MACOSX/._x", ".DS_Store"]),
        ] {
            let error = plan(&list, &Limits::default()).expect_err("refused");
            assert!(matches!(error, IngestError::NoSite), "{list:?}: {error:?}");
        }
    }

    /// Mostly ordinary names, so that many lists are accepted and the property has
    /// something to check, with `..`, `.` and every hostile spelling mixed in.
    fn name_strategy() -> impl Strategy<Value = Vec<u8>> {
        let hostile = prop::sample::select(vec![
            "",
            "C:",
            "c:x",
            "x\\..",
            "\\",
            "\u{0}",
            "\u{1b}",
            "\u{202e}",
            "__MACOSX",
            ".DS_Store",
        ]);
        let part = prop_oneof![
            8 => "[a-c]{1,2}",
            1 => "[A-C]",
            1 => Just("é".to_string()),
            3 => Just("..".to_string()),
            1 => Just(".".to_string()),
            2 => hostile.prop_map(String::from),
        ];
        (
            proptest::collection::vec(part, 1..5),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(parts, leading_slash, trailing_slash)| {
                let mut name = parts.join("/");
                if leading_slash {
                    name.insert(0, '/');
                }
                if trailing_slash {
                    name.push('/');
                }
                name.into_bytes()
            })
    }

    fn entry_strategy() -> impl Strategy<Value = ArchiveEntry> {
        let mode = prop_oneof![
            4 => Just(Some(FILE)),
            2 => Just(None),
            1 => Just(Some(FOLDER)),
            1 => Just(Some(LINK)),
            1 => Just(Some(0o644)),
        ];
        (name_strategy(), mode).prop_map(|(name, unix_mode)| ArchiveEntry {
            name,
            unix_mode,
            compression: Compression::Deflated,
            compressed_size: 10,
            size: 10,
            encrypted: false,
        })
    }

    proptest! {
        #[test]
        fn any_accepted_path_stays_inside_the_workspace(
            list in proptest::collection::vec(entry_strategy(), 1..6)
        ) {
            if let Ok(plan) = plan(&list, &Limits::default()) {
                let workspace = Path::new("/srv/devflow/sessions/s1/site");
                for planned in &plan.entries {
                    let path = Path::new(&planned.path);
                    prop_assert!(!planned.path.is_empty());
                    prop_assert!(!planned.path.contains('\\'), "{:?}", planned.path);
                    prop_assert!(!planned.path.chars().any(is_forbidden_char), "{:?}", planned.path);
                    prop_assert!(
                        path.components().all(|c| matches!(c, Component::Normal(_))),
                        "{:?}", planned.path
                    );
                    let joined = workspace.join(path);
                    prop_assert!(joined.starts_with(workspace), "{:?}", joined);
                    prop_assert_eq!(joined.components().count(), workspace.components().count()
                        + path.components().count());
                    let mode = list[planned.index].unix_mode.unwrap_or(0) & S_IFMT;
                    prop_assert!(mode != S_IFLNK, "a link was planned: {:?}", planned.path);
                }
            }
        }
    }
}
