//! devflow's wire types, and nothing else: no IO, no async runtime, no business logic beyond
//! validating a value against the contract. Every transport (LSP stdio, WebSocket JSON-RPC,
//! REST + SSE, the CLI) speaks exactly these types; the JSON Schema and the TypeScript
//! declarations under `generated/` are produced from them (see [`codegen`]).
//!
//! JSON is camelCase, except [`Proposal`], whose snake_case fields are fixed by the product
//! ticket. Timestamps of sessions and errors are Unix seconds (seed 004); event and command
//! timings are Unix milliseconds.

pub mod codegen;
mod command;
mod error;
mod event;
mod methods;
mod patch;
mod proposal;
mod reference;
mod session;

pub use command::*;
pub use error::*;
pub use event::*;
pub use methods::*;
pub use patch::*;
pub use proposal::*;
pub use reference::*;
pub use session::*;

/// The longest instruction a command accepts, in characters (seed 004).
pub const MAX_INSTRUCTION_CHARS: usize = 5000;
