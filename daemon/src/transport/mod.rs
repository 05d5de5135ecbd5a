//! Thin transports over the service facade: they decode, call, encode. `http` serves REST +
//! SSE and upgrades `/rpc` to `ws` (JSON-RPC over WebSocket) on one port behind the token,
//! Origin and Host checks; `ui` serves the web panel at `/`; `lsp` speaks LSP-style JSON-RPC
//! over stdio for the editor, behind `lsp_input`, which answers malformed frames instead of
//! letting them end the connection.

pub mod http;
pub mod lsp;
mod lsp_input;
pub mod ui;
pub mod ws;
