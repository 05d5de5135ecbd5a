//! The devflow daemon as a library: the [`service::Service`] facade that owns every session,
//! the command pipeline it runs, and the thin transports that expose it (LSP stdio,
//! WebSocket JSON-RPC, REST + SSE). `main.rs` only parses the command line and starts one of
//! them.

pub mod app;
pub mod apply;
pub mod artifacts;
pub mod auth;
pub mod builtin_proposer;
pub mod candidates;
pub mod client;
pub mod config;
pub mod editor;
pub mod engine;
pub mod error;
pub mod events;
pub mod fleet;
pub mod headless;
pub mod logs;
pub mod metrics;
pub mod parts;
pub mod preview;
pub mod proposers;
pub mod rpc;
pub mod service;
pub mod sweeper;
pub mod transport;

/// Unix milliseconds now. The clock is read here, at the edge; pure code takes it as an argument.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
