//! devflow's zip ingest: a site uploaded as a zip becomes the session workspace, or the
//! upload is refused with an error that names the offending entry and nothing is written.
//!
//! [`plan`] is pure: from the central directory alone it refuses traversal, absolute and
//! Windows paths, links, duplicates, control characters and anything over the [`Limits`],
//! and finds the wrapper folder to strip. [`ingest`] is the IO edge around it: it streams
//! the accepted entries into a staging folder, holding the real decompressed bytes to the
//! same limits, and renames the folder into place only when everything came out.

mod archive;
mod error;
mod extract;
mod limits;
mod policy;

pub use error::{display_name, ErrorKind, IngestError};
pub use extract::{ingest, IngestSummary};
pub use limits::{Limits, MAX_NAME_BYTES, MAX_PATH_BYTES, RATIO_EXEMPT_BYTES};
pub use policy::{plan, ArchiveEntry, Compression, ExtractionPlan, PlannedEntry, PlannedKind};
