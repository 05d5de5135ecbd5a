// The host side of the webview bridge: a call from the panel goes to `devflow lsp` as
// `devflow/<method>`; its answer or its seed-004 error goes back with the call's id. Uploads
// arrive as bytes, are written to a private temp file and handed to the daemon by path.
// No vscode import, so it is unit-tested with fakes.

import type { ToHost, ToWebview } from "../bridge-protocol.ts";
import { isApiError } from "../panel/api.ts";

export interface Daemon {
  /** Sends `devflow/<method>`; rejects with the JSON-RPC error (its `data` is the ApiError). */
  request(method: string, params: unknown): Promise<unknown>;
  /** False while `devflow lsp` is starting or restarting. */
  readonly running: boolean;
}

export interface Files {
  /** Writes bytes to a new private temp file; returns its path. */
  writeTemp(name: string, bytes: Uint8Array): Promise<string>;
  remove(path: string): Promise<void>;
}

export interface BridgeHost {
  post(message: ToWebview): void;
  openLogs(sessionId: string): void;
  sessionChanged(sessionId: string | null): void;
  ready(): void;
}

/** The error object a failed request becomes for the panel. */
export function errorFor(error: unknown): Extract<ToWebview, { kind: "error" }>["error"] {
  const data = (error as { data?: unknown } | null)?.data;
  if (isApiError(data)) return data;
  const message = error instanceof Error ? error.message : String(error);
  return { error: "DISCONNECTED", message: message || "devflow did not answer" };
}

export class Bridge {
  constructor(
    private readonly daemon: Daemon,
    private readonly files: Files,
    private readonly host: BridgeHost,
  ) {}

  async receive(message: ToHost): Promise<void> {
    switch (message.kind) {
      case "ready":
        this.host.ready();
        return;
      case "sessionChanged":
        this.host.sessionChanged(message.sessionId);
        return;
      case "openLogs":
        this.host.openLogs(message.sessionId);
        return;
      case "call":
        return this.answer(message.id, () => this.daemon.request(message.method, message.params ?? {}));
      case "uploadZip":
        return this.answer(message.id, () =>
          this.withTemp(message.name, message.bytes, (zipPath) =>
            this.daemon.request("session/upload", { sessionId: message.sessionId, zipPath }),
          ),
        );
      case "uploadReference":
        return this.answer(message.id, () =>
          this.withTemp(message.name, message.bytes, (path) =>
            this.daemon.request("reference/set", { sessionId: message.sessionId, path }),
          ),
        );
    }
  }

  private async answer(id: number, run: () => Promise<unknown>): Promise<void> {
    if (!this.daemon.running) {
      this.host.post({ kind: "error", id, error: { error: "DISCONNECTED", message: "devflow is restarting" } });
      return;
    }
    try {
      this.host.post({ kind: "result", id, result: await run() });
    } catch (error) {
      this.host.post({ kind: "error", id, error: errorFor(error) });
    }
  }

  private async withTemp<T>(name: string, bytes: Uint8Array, use: (path: string) => Promise<T>): Promise<T> {
    const path = await this.files.writeTemp(name, bytes);
    try {
      return await use(path);
    } finally {
      await this.files.remove(path).catch(() => undefined);
    }
  }
}
