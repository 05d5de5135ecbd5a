// The webview host's link to the daemon: every call goes to the extension host by
// postMessage, which sends it to `devflow lsp` as `devflow/<method>`; events and connection
// changes come back the same way. Uploads travel as bytes and the host writes them to a
// temp file for `session/upload` / `reference/set`. Pictures and reference screens come as
// bytes too (`resource/read`): the webview cannot reach `devflow lsp` over HTTP.

import type { ToHost, ToWebview } from "../bridge-protocol.ts";
import {
  DaemonError,
  isApiError,
  type Api,
  type ConnectionState,
  type CreateSessionResult,
  type DaemonLink,
  type Event,
  type Params,
  type Reference,
  type ResourceSource,
  type Result,
  type UploadResult,
} from "./api.ts";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: DaemonError) => void;
}

export class MessageLink implements DaemonLink {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(event: Event) => void>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private currentState: ConnectionState = "connecting";

  constructor(private readonly post: (message: ToHost) => void) {}

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Feeds one message from the host in. */
  receive(message: ToWebview): void {
    switch (message.kind) {
      case "result":
      case "error": {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        if (message.kind === "result") pending.resolve(message.result);
        else if (message.error.error === "DISCONNECTED") pending.reject(new DaemonError("DISCONNECTED", message.error.message));
        else if (isApiError(message.error)) pending.reject(DaemonError.fromApi(message.error));
        return;
      }
      case "event":
        for (const listener of [...this.eventListeners]) listener(message.event);
        return;
      case "state":
      case "init":
        this.setState(message.state);
        return;
      case "open":
        return;
    }
  }

  call<M extends keyof Api>(method: M, params: Params<M>): Promise<Result<M>> {
    if (this.currentState !== "open") {
      return Promise.reject(new DaemonError("DISCONNECTED", "devflow is not running; restarting…"));
    }
    return this.request((id) => ({ kind: "call", id, method, params })) as Promise<Result<M>>;
  }

  onEvent(listener: (event: Event) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  async uploadZip(session: CreateSessionResult, zip: Blob): Promise<UploadResult> {
    const bytes = new Uint8Array(await zip.arrayBuffer());
    const name = zip instanceof File ? zip.name : "site.zip";
    return (await this.request((id) => ({ kind: "uploadZip", id, sessionId: session.sessionId, name, bytes }))) as UploadResult;
  }

  async uploadReference(sessionId: string, file: Blob): Promise<Reference> {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const name = file instanceof File ? file.name : "reference";
    return (await this.request((id) => ({ kind: "uploadReference", id, sessionId, name, bytes }))) as Reference;
  }

  resourceUrl(url: string): string {
    return url;
  }

  async resourceSource(url: string): Promise<ResourceSource> {
    const content = await this.call("resource/read", { url });
    return { kind: "bytes", mediaType: content.mediaType, base64: content.base64 };
  }

  openLogs(_logsUrl: string, sessionId: string): void {
    this.post({ kind: "openLogs", sessionId });
  }

  dispose(): void {
    for (const pending of this.pending.values()) pending.reject(new DaemonError("DISCONNECTED", "the panel was closed"));
    this.pending.clear();
    this.setState("closed");
  }

  private request(message: (id: number) => ToHost): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post(message(id));
    });
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    if (state !== "open") {
      for (const pending of this.pending.values()) pending.reject(new DaemonError("DISCONNECTED", "devflow stopped; restarting…"));
      this.pending.clear();
    }
    for (const listener of [...this.stateListeners]) listener(state);
  }
}
