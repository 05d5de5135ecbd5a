//! Why a zip was refused, in terms the person who uploaded it can act on. Every variant
//! about one entry names it (escaped, so a hostile name cannot inject into a log line or a
//! terminal), and [`IngestError::kind`] tells the caller whose fault it is.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Whose problem an [`IngestError`] is, for mapping it onto an API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The upload is not a readable zip: not a zip, damaged, encrypted, an unsupported
    /// compression method, or no files at all.
    BadArchive,
    /// An entry could write outside the site, or could be read two ways (links, traversal,
    /// duplicates, control characters, …).
    UnsafeEntry,
    /// Over one of the [`crate::Limits`].
    TooLarge,
    /// The target workspace is not an empty or absent folder.
    Workspace,
    /// The daemon's own file system failed; the upload may be fine.
    Io,
}

/// A zip that was refused, or an ingest that failed. Nothing was written either way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("the upload is not a zip archive{}; upload the site as a .zip file", looks_like_text(*.looks_like))]
    NotAZip { looks_like: Option<&'static str> },

    #[error("the zip is damaged or incomplete ({detail}); create it again and re-upload it")]
    Corrupt { detail: String },

    #[error("entry {entry} is damaged ({detail}); create the zip again and re-upload it")]
    CorruptEntry { entry: String, detail: String },

    #[error(
        "entry {entry} is password-protected; devflow does not open encrypted zips, so zip the \
         site again without a password"
    )]
    Encrypted { entry: String },

    #[error(
        "entry {entry} is compressed with {method}, which devflow does not read; zip the site \
         again with the standard (deflate) compression"
    )]
    UnsupportedCompression { entry: String, method: String },

    #[error(
        "entry {entry} has a name that is not UTF-8 (an old zip tool wrote it in a local code \
         page); zip the site again with a tool that writes UTF-8 names"
    )]
    NameNotUtf8 { entry: String },

    #[error("entry {entry} has a NUL byte in its name, which would cut the name short; remove it")]
    NulInName { entry: String },

    #[error("entry {entry} has a control character in its name; rename it")]
    ControlCharacter { entry: String },

    #[error("entry {entry} leaves the site folder")]
    ParentDir { entry: String },

    #[error(
        "entry {entry} is an absolute path; paths in the zip must be relative to the site folder"
    )]
    AbsolutePath { entry: String },

    #[error(
        "entry {entry} starts with a Windows drive letter; paths in the zip must be relative to \
         the site folder"
    )]
    DriveLetter { entry: String },

    #[error(
        "entry {entry} uses the Windows path separator `\\`; zip the site again with a tool that \
         writes `/`"
    )]
    Backslash { entry: String },

    #[error("entry {entry} {why}")]
    MalformedPath { entry: String, why: &'static str },

    #[error(
        "entry {entry} has a path too long for the file system (over {} bytes for one name or {} \
         in all)",
        crate::limits::MAX_NAME_BYTES,
        crate::limits::MAX_PATH_BYTES
    )]
    NameTooLong { entry: String },

    #[error(
        "entry {entry} is a symbolic link; devflow never creates links from a zip, so put the \
         file itself in the zip"
    )]
    Symlink { entry: String },

    #[error("entry {entry} is a device, pipe or socket, not a file; remove it from the zip")]
    SpecialFile { entry: String },

    #[error(
        "entry {entry} appears twice in the zip, and which copy wins depends on the tool; keep one"
    )]
    Duplicate { entry: String },

    #[error(
        "entries {other} and {entry} differ only in letter case and would overwrite each other \
         on macOS and Windows; rename one"
    )]
    CaseClash { entry: String, other: String },

    #[error("entry {entry} is a file, but entry {other} needs it to be a folder; rename one")]
    FileFolderClash { entry: String, other: String },

    #[error(
        "the zip has {count} entries, more than the {limit} allowed; leave out what the site does \
         not need (node_modules, build output)"
    )]
    TooManyEntries { count: usize, limit: usize },

    #[error("entry {entry} is nested {depth} levels deep, more than the {limit} allowed")]
    TooDeep {
        entry: String,
        depth: usize,
        limit: usize,
    },

    #[error(
        "entry {entry} unpacks to {}, over the {} limit for one file",
        Size(*.size),
        Size(*.limit)
    )]
    FileTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },

    #[error(
        "the site unpacks to more than {} (passed at entry {entry}); leave out large files the \
         site does not need",
        Size(*.limit)
    )]
    TotalTooLarge { entry: String, limit: u64 },

    #[error(
        "entry {entry} expands {ratio}:1 when unpacked, over the {limit}:1 allowed for files \
         over {}; that is a zip bomb, not a web asset",
        Size(crate::limits::RATIO_EXEMPT_BYTES)
    )]
    RatioTooHigh {
        entry: String,
        ratio: u64,
        limit: u64,
    },

    #[error(
        "entry {entry} does not hold the {declared} bytes its header declares{}; the zip is \
         damaged or forged",
        if *.more { " (it holds more)" } else { "" }
    )]
    SizeMismatch {
        entry: String,
        declared: u64,
        more: bool,
    },

    #[error("the zip contains no files; a site needs at least an index.html or a package.json")]
    NoSite,

    #[error(
        "the workspace {} already has files in it; a zip is only unpacked into an empty or new \
         folder",
        .path.display()
    )]
    WorkspaceNotEmpty { path: PathBuf },

    #[error("the workspace {} exists and is not a folder", .path.display())]
    WorkspaceNotFolder { path: PathBuf },

    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl IngestError {
    /// The offending entry as the zip names it (control characters and bytes that are not
    /// UTF-8 escaped), when the error is about one entry.
    pub fn entry(&self) -> Option<&str> {
        use IngestError::*;
        match self {
            CorruptEntry { entry, .. }
            | Encrypted { entry }
            | UnsupportedCompression { entry, .. }
            | NameNotUtf8 { entry }
            | NulInName { entry }
            | ControlCharacter { entry }
            | ParentDir { entry }
            | AbsolutePath { entry }
            | DriveLetter { entry }
            | Backslash { entry }
            | MalformedPath { entry, .. }
            | NameTooLong { entry }
            | Symlink { entry }
            | SpecialFile { entry }
            | Duplicate { entry }
            | CaseClash { entry, .. }
            | FileFolderClash { entry, .. }
            | TooDeep { entry, .. }
            | FileTooLarge { entry, .. }
            | TotalTooLarge { entry, .. }
            | RatioTooHigh { entry, .. }
            | SizeMismatch { entry, .. } => Some(entry),
            NotAZip { .. }
            | Corrupt { .. }
            | TooManyEntries { .. }
            | NoSite
            | WorkspaceNotEmpty { .. }
            | WorkspaceNotFolder { .. }
            | Io { .. } => None,
        }
    }

    /// Whose problem this is: the upload's (and which way), the workspace's or the daemon's.
    pub fn kind(&self) -> ErrorKind {
        use IngestError::*;
        match self {
            NotAZip { .. }
            | Corrupt { .. }
            | CorruptEntry { .. }
            | Encrypted { .. }
            | UnsupportedCompression { .. }
            | NameNotUtf8 { .. }
            | SizeMismatch { .. }
            | NoSite => ErrorKind::BadArchive,
            NulInName { .. }
            | ControlCharacter { .. }
            | ParentDir { .. }
            | AbsolutePath { .. }
            | DriveLetter { .. }
            | Backslash { .. }
            | MalformedPath { .. }
            | NameTooLong { .. }
            | Symlink { .. }
            | SpecialFile { .. }
            | Duplicate { .. }
            | CaseClash { .. }
            | FileFolderClash { .. } => ErrorKind::UnsafeEntry,
            TooManyEntries { .. }
            | TooDeep { .. }
            | FileTooLarge { .. }
            | TotalTooLarge { .. }
            | RatioTooHigh { .. } => ErrorKind::TooLarge,
            WorkspaceNotEmpty { .. } | WorkspaceNotFolder { .. } => ErrorKind::Workspace,
            Io { .. } => ErrorKind::Io,
        }
    }
}

/// An entry name fit for a message: UTF-8 as is, except that control and bidirectional
/// formatting characters become `\u{..}` and bytes that are not UTF-8 become `\x..`.
pub fn display_name(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_forbidden_char(c) {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Characters no entry name may contain: C0 and C1 controls and DEL (log and terminal
/// injection, broken paths), and the bidirectional overrides and isolates that make a name
/// display as something it is not.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn looks_like_text(kind: Option<&'static str>) -> String {
    match kind {
        Some(kind) => format!(" (it looks like {kind})"),
        None => String::new(),
    }
}

/// A byte count the way people read it: `512 bytes`, `1.5 KiB`, `50 MiB`, `1 GiB`.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        let bytes = self.0;
        if bytes < 1024 {
            return write!(f, "{bytes} bytes");
        }
        let mut value = bytes as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if value.fract() == 0.0 {
            write!(f, "{value:.0} {}", UNITS[unit])
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_the_way_people_write_them() {
        assert_eq!(Size(512).to_string(), "512 bytes");
        assert_eq!(Size(50 * 1024 * 1024).to_string(), "50 MiB");
        assert_eq!(Size(1 << 30).to_string(), "1 GiB");
        assert_eq!(Size(1536).to_string(), "1.5 KiB");
    }

    #[test]
    fn hostile_names_are_escaped_for_display() {
        assert_eq!(
            display_name(b"bad\x1b[31mred\nname\r.txt"),
            "bad\\u{1b}[31mred\\u{a}name\\u{d}.txt"
        );
        assert_eq!(display_name(b"evil.html\x00.png"), "evil.html\\u{0}.png");
        assert_eq!(display_name(b"caf\xe9.html"), "caf\\xe9.html");
        assert_eq!(display_name("見出し.html".as_bytes()), "見出し.html");
        assert_eq!(
            display_name("a\u{202e}lmth.exe".as_bytes()),
            "a\\u{202e}lmth.exe"
        );
    }

    #[test]
    fn the_traversal_message_names_the_entry() {
        let error = IngestError::ParentDir {
            entry: "../../etc/passwd".into(),
        };
        assert_eq!(
            error.to_string(),
            "entry ../../etc/passwd leaves the site folder"
        );
        assert_eq!(error.entry(), Some("../../etc/passwd"));
        assert_eq!(error.kind(), ErrorKind::UnsafeEntry);
    }
}
