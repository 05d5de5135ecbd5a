//! Test harness for black-box tests: starts the real `devflow` binary on a temp state dir and
//! talks to it over each transport (REST + SSE, JSON-RPC over WebSocket, LSP over stdio)
//! through one [`Client`] interface, so a scenario can run unchanged on all three.

pub mod client;
pub mod daemon;
pub mod fixtures;

pub use client::{Client, LspClient, RestClient, WsClient};
pub use daemon::Daemon;
