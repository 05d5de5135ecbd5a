// Messages between the panel in a VS Code webview and the extension host. Internal to the
// extension (the daemon never sees them); the daemon's own types come from the protocol.

import type { ApiError, ConnectionState, Event } from "./panel/api.ts";

export type ToHost =
  | { kind: "ready" }
  | { kind: "call"; id: number; method: string; params: unknown }
  | { kind: "uploadZip"; id: number; sessionId: string; name: string; bytes: Uint8Array }
  | { kind: "uploadReference"; id: number; sessionId: string; name: string; bytes: Uint8Array }
  | { kind: "openLogs"; sessionId: string }
  | { kind: "sessionChanged"; sessionId: string | null };

export type ToWebview =
  | { kind: "init"; sessionId: string | null; workspaceFolder: string | null; state: ConnectionState }
  | { kind: "result"; id: number; result: unknown }
  | { kind: "error"; id: number; error: ApiError | { error: "DISCONNECTED"; message: string } }
  | { kind: "event"; event: Event }
  | { kind: "state"; state: ConnectionState }
  | { kind: "open"; sessionId: string };
