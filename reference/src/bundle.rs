//! A reference upload: token JSON alone, or a zip holding token files (`*.json`) and
//! reference screens under `screens/` (`home.png`, `about.html`, …).
//!
//! Pure: bytes in, a `ReferenceBundle` out. A zip is checked whole before anything is used:
//! every name must be a plain relative path (no `..`, no absolute or drive paths, no
//! backslashes, no control characters), no symlinks, no duplicates, no encryption, bounded
//! size and entry count; one bad entry rejects the upload.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use devflow_protocol::{Reference, ReferenceScreen, ResolvedToken};

use crate::tokens::{resolve_tokens, TokenError, TokenFile};

/// At most this many entries in a reference zip.
pub const MAX_ENTRIES: usize = 2_000;
/// At most this many bytes in one file of a reference zip, once inflated.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// At most this many bytes in all files of a reference zip, once inflated.
pub const MAX_TOTAL_BYTES: u64 = 100 * 1024 * 1024;
/// At most this many path components in a name.
pub const MAX_DEPTH: usize = 16;

/// A reference screen file read from an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenFile {
    /// The page it shows: `screens/home.png` → `home`, `screens/blog/post.html` → `blog/post`.
    pub name: String,
    /// `image/png`, `image/jpeg` or `text/html`.
    pub media_type: String,
    /// Where it was in the zip (after a single wrapper folder is stripped).
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A reference as uploaded: resolved tokens and the screen files, not yet given an id or
/// URLs (the daemon decides where screens are served from).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceBundle {
    pub tokens: Vec<ResolvedToken>,
    /// Sorted by name.
    pub screens: Vec<ScreenFile>,
}

impl ReferenceBundle {
    /// The wire `Reference`; `screen_url` says where the panel loads each screen from.
    pub fn to_reference(
        &self,
        reference_id: impl Into<String>,
        screen_url: impl Fn(&ScreenFile) -> String,
    ) -> Reference {
        Reference {
            reference_id: reference_id.into(),
            tokens: self.tokens.clone(),
            screens: self
                .screens
                .iter()
                .map(|screen| ReferenceScreen {
                    name: screen.name.clone(),
                    media_type: screen.media_type.clone(),
                    url: screen_url(screen),
                })
                .collect(),
            drift_score: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    #[error("not a readable zip archive: {0}")]
    NotAZip(String),
    #[error("the zip has {count} entries; a reference may have at most {max}")]
    TooManyEntries { count: usize, max: usize },
    #[error("zip entry `{name}` is not allowed: {reason}; names must be plain relative paths like `tokens.json` or `screens/home.png`")]
    UnsafeName { name: String, reason: &'static str },
    #[error("zip entry `{name}` is a symbolic link; a reference zip may only hold plain files")]
    Symlink { name: String },
    #[error("zip entry `{name}` is encrypted; upload an unencrypted zip")]
    Encrypted { name: String },
    #[error("zip entry `{name}` appears twice")]
    DuplicateEntry { name: String },
    #[error("zip entry `{name}` is larger than {max} bytes")]
    FileTooLarge { name: String, max: u64 },
    #[error("the zip's files add up to more than {max} bytes")]
    TooLarge { max: u64 },
    #[error("zip entry `{name}` could not be read: {message}")]
    Unreadable { name: String, message: String },
    #[error("token file `{name}` is not UTF-8 text")]
    NotUtf8 { name: String },
    #[error("the zip has no token files; put the design tokens in a `*.json` file (e.g. `tokens.json`) outside `screens/`")]
    NoTokenFiles,
    #[error("screen `{name}` is given twice, by `{first}` and `{second}`; keep one")]
    DuplicateScreen {
        name: String,
        first: String,
        second: String,
    },
    #[error("screen `{path}` is not a {expected} file")]
    NotAnImage {
        path: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Tokens(#[from] TokenError),
}

/// A reference given as one token JSON document (no screens).
pub fn read_reference_json(name: &str, bytes: &[u8]) -> Result<ReferenceBundle, ReferenceError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ReferenceError::NotUtf8 {
        name: name.to_string(),
    })?;
    Ok(ReferenceBundle {
        tokens: resolve_tokens(&[TokenFile::new(name, text)])?,
        screens: Vec::new(),
    })
}

struct Entry {
    name: String,
    is_dir: bool,
}

/// Reads a reference zip: every `*.json` outside `screens/` is a token file, every
/// png/jpg/jpeg/html under `screens/` a screen. One top-level wrapper folder (as made by
/// "compress folder" or a repository download) is stripped; `__MACOSX/` and dot files are
/// ignored.
pub fn read_reference_zip(bytes: &[u8]) -> Result<ReferenceBundle, ReferenceError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ReferenceError::NotAZip(e.to_string()))?;
    // The zip reader keeps only one of two entries with the same name, so which copy "wins"
    // is invisible through it; the central directory still lists both.
    if let Some(names) = central_directory_names(bytes) {
        let mut seen = std::collections::HashSet::new();
        for name in names {
            if !seen.insert(name) {
                return Err(ReferenceError::DuplicateEntry {
                    name: String::from_utf8_lossy(name).escape_debug().to_string(),
                });
            }
        }
    }
    if archive.len() > MAX_ENTRIES {
        return Err(ReferenceError::TooManyEntries {
            count: archive.len(),
            max: MAX_ENTRIES,
        });
    }

    // Pass 1: check every entry from the central directory before reading any content.
    let mut entries = Vec::with_capacity(archive.len());
    let mut seen = std::collections::HashSet::new();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let file = archive
            .by_index_raw(index)
            .map_err(|e| ReferenceError::NotAZip(e.to_string()))?;
        let name = check_name(file.name_raw())?;
        if file.is_symlink() {
            return Err(ReferenceError::Symlink { name });
        }
        if file.encrypted() {
            return Err(ReferenceError::Encrypted { name });
        }
        if file.size() > MAX_FILE_BYTES {
            return Err(ReferenceError::FileTooLarge {
                name,
                max: MAX_FILE_BYTES,
            });
        }
        declared_total = declared_total.saturating_add(file.size());
        if declared_total > MAX_TOTAL_BYTES {
            return Err(ReferenceError::TooLarge {
                max: MAX_TOTAL_BYTES,
            });
        }
        let key = name.trim_end_matches('/').to_string();
        if !seen.insert(key) {
            return Err(ReferenceError::DuplicateEntry { name });
        }
        entries.push(Entry {
            is_dir: file.is_dir(),
            name,
        });
    }

    let wrapper = wrapper_folder(&entries);
    let mut token_files = Vec::new();
    let mut screens: BTreeMap<String, ScreenFile> = BTreeMap::new();
    let mut total: u64 = 0;
    for (index, entry) in entries.iter().enumerate() {
        if entry.is_dir || ignored(&entry.name) {
            continue;
        }
        let path = match &wrapper {
            Some(prefix) => entry.name[prefix.len()..].to_string(),
            None => entry.name.clone(),
        };
        let lower = path.to_ascii_lowercase();
        let kind = if let Some(screen_path) = lower.strip_prefix("screens/") {
            match screen_kind(screen_path) {
                Some(kind) => Some(kind),
                // Other files under screens/ (stylesheets, images an HTML screen uses) are
                // assets, not screens.
                None => continue,
            }
        } else if lower.ends_with(".json") && !is_metadata_json(&lower) {
            None
        } else {
            continue;
        };

        let data = read_entry(&mut archive, index, &entry.name)?;
        total += data.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(ReferenceError::TooLarge {
                max: MAX_TOTAL_BYTES,
            });
        }
        match kind {
            None => {
                let text = String::from_utf8(data)
                    .map_err(|_| ReferenceError::NotUtf8 { name: path.clone() })?;
                token_files.push(TokenFile::new(path, text));
            }
            Some(kind) => {
                if !kind.accepts(&data) {
                    return Err(ReferenceError::NotAnImage {
                        path,
                        expected: kind.label,
                    });
                }
                let relative = &path["screens/".len()..];
                let name = relative
                    .rsplit_once('.')
                    .map_or(relative, |(stem, _)| stem)
                    .to_string();
                if let Some(first) = screens.get(&name) {
                    return Err(ReferenceError::DuplicateScreen {
                        name,
                        first: first.path.clone(),
                        second: path,
                    });
                }
                screens.insert(
                    name.clone(),
                    ScreenFile {
                        name,
                        media_type: kind.media_type.to_string(),
                        path,
                        bytes: data,
                    },
                );
            }
        }
    }

    if token_files.is_empty() {
        return Err(ReferenceError::NoTokenFiles);
    }
    token_files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ReferenceBundle {
        tokens: resolve_tokens(&token_files)?,
        screens: screens.into_values().collect(),
    })
}

/// The raw entry names as the central directory lists them, or `None` when it cannot be
/// walked simply (zip64, data before the archive); the zip reader's own checks still apply.
fn central_directory_names(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    const END_SIGNATURE: &[u8] = b"PK\x05\x06";
    const ENTRY_SIGNATURE: &[u8] = b"PK\x01\x02";
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok())
    };
    let last_start = bytes.len().checked_sub(22)?;
    let end = (last_start.saturating_sub(65_535)..=last_start)
        .rev()
        .find(|&at| bytes.get(at..at + 4) == Some(END_SIGNATURE))?;
    let count = u16_at(end + 10)?;
    let mut at = u32_at(end + 16)?;
    if count == 0xFFFF || at == 0xFFFF_FFFF {
        return None;
    }
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        if bytes.get(at..at + 4) != Some(ENTRY_SIGNATURE) {
            return None;
        }
        let name_len = u16_at(at + 28)?;
        let extra_len = u16_at(at + 30)?;
        let comment_len = u16_at(at + 32)?;
        names.push(bytes.get(at + 46..at + 46 + name_len)?);
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(names)
}

/// The name as a plain relative path, or why not.
fn check_name(raw: &[u8]) -> Result<String, ReferenceError> {
    let shown = String::from_utf8_lossy(raw).escape_debug().to_string();
    let unsafe_name = |reason| ReferenceError::UnsafeName {
        name: shown.clone(),
        reason,
    };
    let name = std::str::from_utf8(raw).map_err(|_| unsafe_name("the name is not UTF-8"))?;
    if name.is_empty() {
        return Err(unsafe_name("the name is empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(unsafe_name("the name contains control characters"));
    }
    if name.contains('\\') {
        return Err(unsafe_name("the name contains a backslash"));
    }
    if name.starts_with('/') {
        return Err(unsafe_name("the name is an absolute path"));
    }
    if name.as_bytes().get(1) == Some(&b':') {
        return Err(unsafe_name("the name starts with a drive letter"));
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let components: Vec<&str> = trimmed.split('/').collect();
    if components.len() > MAX_DEPTH {
        return Err(unsafe_name("the name is nested too deeply"));
    }
    for component in components {
        match component {
            "" => return Err(unsafe_name("the name has an empty path component")),
            "." | ".." => return Err(unsafe_name("the name has a `.` or `..` component")),
            _ => {}
        }
    }
    Ok(name.to_string())
}

/// The one folder every entry sits in, as `folder/`, when there is exactly one and it is
/// not `screens/` itself.
fn wrapper_folder(entries: &[Entry]) -> Option<String> {
    let mut top: Option<&str> = None;
    for entry in entries.iter().filter(|e| !ignored(&e.name)) {
        let (first, rest) = entry.name.split_once('/')?;
        if rest.is_empty() && !entry.is_dir {
            return None;
        }
        match top {
            None => top = Some(first),
            Some(t) if t == first => {}
            Some(_) => return None,
        }
    }
    top.filter(|t| !t.eq_ignore_ascii_case("screens"))
        .map(|t| format!("{t}/"))
}

/// macOS resource forks and dot files (`.DS_Store`) are packing noise, not content.
fn ignored(name: &str) -> bool {
    name.starts_with("__MACOSX/") || name.split('/').any(|c| c.starts_with('.'))
}

/// JSON files in token folders that are not tokens: Tokens Studio's theme/metadata files and
/// npm manifests.
fn is_metadata_json(lower_path: &str) -> bool {
    let file = lower_path.rsplit('/').next().unwrap_or(lower_path);
    matches!(
        file,
        "$themes.json" | "$metadata.json" | "package.json" | "package-lock.json"
    )
}

#[derive(Debug, Clone, Copy)]
struct ScreenKind {
    media_type: &'static str,
    label: &'static str,
    magic: &'static [u8],
}

impl ScreenKind {
    fn accepts(&self, data: &[u8]) -> bool {
        data.starts_with(self.magic)
    }
}

fn screen_kind(lower_path: &str) -> Option<ScreenKind> {
    let (_, ext) = lower_path.rsplit_once('.')?;
    Some(match ext {
        "png" => ScreenKind {
            media_type: "image/png",
            label: "PNG",
            magic: b"\x89PNG\r\n\x1a\n",
        },
        "jpg" | "jpeg" => ScreenKind {
            media_type: "image/jpeg",
            label: "JPEG",
            magic: b"\xff\xd8\xff",
        },
        "html" | "htm" => ScreenKind {
            media_type: "text/html",
            label: "HTML",
            magic: b"",
        },
        _ => return None,
    })
}

fn read_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    name: &str,
) -> Result<Vec<u8>, ReferenceError> {
    let unreadable = |message: String| ReferenceError::Unreadable {
        name: name.to_string(),
        message,
    };
    let file = archive
        .by_index(index)
        .map_err(|e| unreadable(e.to_string()))?;
    let mut data = Vec::new();
    // The central directory's size may lie: never inflate more than the limit allows.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| unreadable(e.to_string()))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(ReferenceError::FileTooLarge {
            name: name.to_string(),
            max: MAX_FILE_BYTES,
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
