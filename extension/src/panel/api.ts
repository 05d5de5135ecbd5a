// Which generated params/result type belongs to which JSON-RPC method. The wire types
// themselves come from protocol/generated/protocol.ts (generated from the Rust crate);
// this file only pairs them with method names, so a call is checked end to end.

import type {
  ApiError,
  ApplyPatchParams,
  Command,
  CommandParams,
  CreateSessionParams,
  CreateSessionResult,
  DeleteResult,
  EditorUrl,
  Event,
  HistoryPage,
  HistoryParams,
  LogsParams,
  LogsResult,
  Method,
  Patch,
  PatchParams,
  PublishParams,
  PublishResult,
  ReadResourceParams,
  Reference,
  ResourceContent,
  RollbackParams,
  RollbackResult,
  Session,
  SessionList,
  SessionParams,
  SetReferenceParams,
  Settings,
  SubmitCommandParams,
  SubmitCommandResult,
  SubscribeParams,
  SubscribeResult,
  UpdateSettingsParams,
  UploadParams,
  UploadResult,
} from "../../../protocol/generated/protocol.ts";

export type * from "../../../protocol/generated/protocol.ts";

/** Method name → [params, result]. Every entry must be a method of the generated `METHODS`. */
export interface Api {
  "session/create": [CreateSessionParams, CreateSessionResult];
  "session/upload": [UploadParams, UploadResult];
  "session/start": [SessionParams, Session];
  "session/get": [SessionParams, Session];
  "session/list": [Record<string, never>, SessionList];
  "session/history": [HistoryParams, HistoryPage];
  "session/subscribe": [SubscribeParams, SubscribeResult];
  "session/unsubscribe": [SessionParams, { sessionId: string; unsubscribed: boolean }];
  "session/logs": [LogsParams, LogsResult];
  "session/rollback": [RollbackParams, RollbackResult];
  "session/pause": [SessionParams, Session];
  "session/resume": [SessionParams, Session];
  "session/getSettings": [SessionParams, Settings];
  "session/updateSettings": [UpdateSettingsParams, Settings];
  "session/stop": [SessionParams, Session];
  "session/delete": [SessionParams, DeleteResult];
  "session/publish": [PublishParams, PublishResult];
  "session/editorUrl": [SessionParams, EditorUrl];
  "command/submit": [SubmitCommandParams, SubmitCommandResult];
  "command/get": [CommandParams, Command];
  "command/cancel": [CommandParams, Command];
  "patch/get": [PatchParams, Patch];
  "patch/apply": [ApplyPatchParams, SubmitCommandResult];
  "reference/set": [SetReferenceParams, Reference];
  "reference/get": [SessionParams, Reference];
  "resource/read": [ReadResourceParams, ResourceContent];
}

// Fails to compile when the daemon gains or renames a method this map does not know.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const API_COVERS_EVERY_METHOD: Exactly<keyof Api, Method> = true;

export type Params<M extends keyof Api> = Api[M][0];
export type Result<M extends keyof Api> = Api[M][1];

/** A failed call: the daemon's seed-004 error object, or a connection failure. */
export class DaemonError extends Error {
  readonly code: ApiError["error"] | "DISCONNECTED";
  readonly api: ApiError | null;

  constructor(code: ApiError["error"] | "DISCONNECTED", message: string, api: ApiError | null = null) {
    super(message);
    this.name = "DaemonError";
    this.code = code;
    this.api = api;
  }

  static fromApi(error: ApiError): DaemonError {
    return new DaemonError(error.error, error.message, error);
  }
}

/** True for a value shaped like the seed-004 error object. */
export function isApiError(value: unknown): value is ApiError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { error?: unknown }).error === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

/**
 * Where a daemon resource (a screenshot, a reference screen) comes from: a URL the panel
 * may load directly, or its bytes, read over the link.
 */
export type ResourceSource = { kind: "url"; url: string } | ({ kind: "bytes" } & ResourceContent);

/** `unauthorized`: the daemon refused the token; retrying will not help. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "unauthorized" | "closed";

/**
 * How the panel reaches the daemon. The browser host speaks JSON-RPC over WebSocket
 * itself; the VS Code host relays through the extension, which talks LSP to `devflow lsp`.
 */
export interface DaemonLink {
  call<M extends keyof Api>(method: M, params: Params<M>): Promise<Result<M>>;
  /** Events of subscribed sessions (the `event` notification's params). */
  onEvent(listener: (event: Event) => void): () => void;
  /** Called with every connection change; `open` after a reconnect means: resubscribe. */
  onState(listener: (state: ConnectionState) => void): () => void;
  readonly state: ConnectionState;
  /** Sends a site zip into an upload session. */
  uploadZip(session: CreateSessionResult, zip: Blob): Promise<UploadResult>;
  /** Sets the session's reference from a tokens JSON or a reference zip. */
  uploadReference(sessionId: string, file: Blob): Promise<Reference>;
  /** A URL the panel may put in an `href` for a daemon resource (the logs). */
  resourceUrl(url: string): string;
  /**
   * A picture or reference screen the daemon gave out `url` for, in a form the panel can
   * show (see resource.ts): the URL with the token over HTTP, the bytes in a webview.
   */
  resourceSource(url: string): Promise<ResourceSource>;
  /** Opens the session's log for the user (a new tab, or the editor's output). */
  openLogs(logsUrl: string, sessionId: string): void;
  dispose(): void;
}
