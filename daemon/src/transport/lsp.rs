//! LSP-style JSON-RPC over stdio for the editor extension (in progress).

use crate::service::Service;

pub async fn serve_stdio(_service: Service) {}
