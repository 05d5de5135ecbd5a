//! Test harness for black-box tests: starts the real `devflow` binary on a temp state dir and
//! talks to it over each transport (REST + SSE, JSON-RPC over WebSocket, LSP over stdio)
//! through one [`Client`] interface, so a scenario can run unchanged on all three; fake model
//! servers ([`fake_models`]) that speak Bedrock Converse and OpenAI chat on 127.0.0.1; moto's
//! S3 server ([`moto`]); a git server on loopback ([`git_server`]) and a fake of GitHub's
//! pull-request API ([`fake_github`]); reference zips and rendered screens ([`screens`]).

pub mod client;
pub mod daemon;
pub mod fake_github;
pub mod fake_models;
pub mod fixtures;
pub mod git_server;
pub mod moto;
pub mod screens;
pub mod session;

pub use client::{Client, LspClient, RestClient, WsClient};
pub use daemon::Daemon;
