//! The size and shape limits a site zip must stay within. They are checked twice: against
//! the sizes the central directory declares (by the pure policy, before anything is
//! written) and against the bytes actually decompressed (while streaming), because a
//! hostile zip can declare sizes that its data does not keep.

/// Entries whose uncompressed size is at most this many bytes are exempt from
/// [`Limits::max_ratio`]: a small file can legitimately compress 200:1 (a run of spaces, an
/// empty placeholder) and cannot exhaust anything whatever its ratio.
pub const RATIO_EXEMPT_BYTES: u64 = 1024 * 1024;

/// Longest path (in bytes, inside the site folder) an entry may have. Well under the
/// 4096-byte `PATH_MAX` of Linux so the workspace prefix still fits in front of it.
pub const MAX_PATH_BYTES: usize = 1024;

/// Longest single name (file or folder) in bytes: `NAME_MAX` of every common file system.
pub const MAX_NAME_BYTES: usize = 255;

const MIB: u64 = 1024 * 1024;

/// What one ingested site may cost. [`Limits::default`] is what uploads get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sum of all uncompressed sizes (declared, and then actually written).
    pub max_total_bytes: u64,
    /// Uncompressed size of any one file.
    pub max_file_bytes: u64,
    /// Entries in the central directory, folders and skipped macOS metadata included.
    pub max_entries: usize,
    /// Uncompressed ÷ compressed size of one entry larger than [`RATIO_EXEMPT_BYTES`].
    pub max_ratio: u64,
    /// Path components of an entry name (`a/b/c.txt` has 3), wrapper folder included.
    pub max_depth: usize,
}

impl Default for Limits {
    /// The defaults and why:
    ///
    /// - `max_total_bytes` 200 MiB: a web site with its images, fonts and a short video is
    ///   rarely over 50 MB; 200 MiB leaves room for media-heavy sites while a daemon holding
    ///   dozens of sessions stays within a few GiB of disk.
    /// - `max_file_bytes` 50 MiB: the largest legitimate assets are background videos and
    ///   font bundles; anything bigger does not belong in a design preview. It also makes
    ///   `bomb-ratio.zip` (one 1 GiB entry) fail on size before its ratio is even looked at.
    /// - `max_entries` 10 000: the fixture sites have 9 to 24 entries, a built docs site a
    ///   few thousand; `too-many-entries.zip` (20 001) is the inode and file-descriptor
    ///   exhaustion case.
    /// - `max_ratio` 100: text compresses 3–10:1 (the fixtures top out at 12:1, a favicon),
    ///   images and fonts about 1:1. Deflate cannot exceed about 1032:1, and only runs of
    ///   one byte come near it; `bomb-ratio.zip` is 1029:1.
    /// - `max_depth` 32: real sites nest fewer than 10 folders (the fixtures: 3, 4 with a
    ///   wrapper folder); `deep-nesting.zip` has 101 components.
    fn default() -> Self {
        Limits {
            max_total_bytes: 200 * MIB,
            max_file_bytes: 50 * MIB,
            max_entries: 10_000,
            max_ratio: 100,
            max_depth: 32,
        }
    }
}
