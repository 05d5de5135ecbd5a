//! devflow-reference: the FrontSwatch reference — design tokens resolved from DTCG or Style
//! Dictionary JSON, reference screens from a zip — and the drift of a site's CSS from it.
//!
//! Everything but `load` is pure: bytes and strings in, values out; no file system, no
//! clock. `load` is the thin edge that reads the same inputs from disk.

pub mod bundle;
pub mod color;
pub mod drift;
pub mod load;
pub mod tokens;
pub mod units;

pub use bundle::{
    read_reference_json, read_reference_zip, ReferenceBundle, ReferenceError, ScreenFile,
};
pub use drift::{
    analyze_drift, drift_report, DriftAnalysis, DriftKind, DriftSummary, KindSummary, SourceFile,
    TokenIndex,
};
pub use load::{load_reference, load_site_sources, load_token_dir, LoadError, SiteSources};
pub use tokens::{resolve_tokens, TokenError, TokenFile, TokenType};
