// The browser host's link to the daemon: JSON-RPC 2.0 over WebSocket at `/rpc?token=T`,
// reconnecting with back-off when the daemon restarts or the network drops. Calls made while
// disconnected fail at once (the panel shows why); resubscribing is the panel's job, told by
// the `open` state after a reconnect.

import {
  DaemonError,
  isApiError,
  type Api,
  type ConnectionState,
  type DaemonLink,
  type Params,
  type Result,
} from "./api.ts";
import type { CreateSessionResult, Event, Reference, ResourceSource, UploadResult } from "./api.ts";
import { Backoff } from "./backoff.ts";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: DaemonError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const CALL_TIMEOUT_MS = 30_000;
/** Silence after which the link asks the daemon something, to notice a dead connection. */
const IDLE_PROBE_MS = 20_000;
const PROBE_TIMEOUT_MS = 8_000;

export interface WsLinkOptions {
  /** `http://127.0.0.1:PORT` — the daemon's origin, which served this page. */
  baseUrl: string;
  token: string;
  /**
   * Opens the socket; the browser's `WebSocket` when absent. The editor extension's host
   * (node 20, which has no global WebSocket) hands in one from the `ws` package.
   */
  createSocket?: (url: string) => LinkSocket;
}

/** The part of the WebSocket API the link uses. */
export interface LinkSocket {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
  addEventListener(type: "open" | "close", listener: () => void): void;
  addEventListener(type: "message", listener: (message: { data: unknown }) => void): void;
}

/** `WebSocket.OPEN`, which the `ws` package shares; not read from a global that node lacks. */
const OPEN = 1;

export class WsLink implements DaemonLink {
  private socket: LinkSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(event: Event) => void>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private currentState: ConnectionState = "connecting";
  private readonly backoff = new Backoff(250, 5_000);
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;

  constructor(private readonly options: WsLinkOptions) {
    this.connect();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  call<M extends keyof Api>(method: M, params: Params<M>): Promise<Result<M>> {
    return this.request(method, params, CALL_TIMEOUT_MS) as Promise<Result<M>>;
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
    if (!session.uploadUrl) {
      throw new DaemonError("CONFLICT", "this session takes no upload");
    }
    // A presigned URL elsewhere (S3 in fleet mode) gets the bytes but never the token.
    const own = this.ownUrl(session.uploadUrl);
    return (await this.http("PUT", own ?? session.uploadUrl, zip, "application/zip", own !== null)) as UploadResult;
  }

  async uploadReference(sessionId: string, file: Blob): Promise<Reference> {
    const url = `${this.options.baseUrl}/sessions/${encodeURIComponent(sessionId)}/reference`;
    const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
    const isZip = head[0] === 0x50 && head[1] === 0x4b;
    return (await this.http("PUT", url, file, isZip ? "application/zip" : "application/json", true)) as Reference;
  }

  resourceUrl(url: string): string {
    // The daemon's own URLs need the token (an <img> or <a> cannot send a header); anything
    // else is passed through untouched so the token never leaves the daemon's origin.
    const own = this.ownUrl(url);
    if (own === null) return url;
    const parsed = new URL(own);
    parsed.searchParams.set("token", this.options.token);
    return parsed.toString();
  }

  resourceSource(url: string): Promise<ResourceSource> {
    return Promise.resolve({ kind: "url", url: this.resourceUrl(url) });
  }

  /**
   * `url` moved onto the origin this page came from when it points at this daemon (the
   * daemon writes its URLs with 127.0.0.1, the page may have been opened as localhost),
   * else null.
   */
  private ownUrl(url: string): string | null {
    const base = new URL(this.options.baseUrl);
    let parsed: URL;
    try {
      parsed = new URL(url, base);
    } catch {
      return null;
    }
    const loopback = (host: string): boolean =>
      host === "127.0.0.1" || host === "localhost" || host === "[::1]";
    const same =
      parsed.origin === base.origin ||
      (parsed.port === base.port && loopback(parsed.hostname) && loopback(base.hostname));
    if (!same) return null;
    return new URL(parsed.pathname + parsed.search, base).toString();
  }

  openLogs(logsUrl: string): void {
    window.open(this.resourceUrl(logsUrl), "_blank", "noopener");
  }

  dispose(): void {
    this.disposed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.failPending("the panel was closed");
    this.socket?.close();
    this.socket = null;
    this.setState("closed");
  }

  private connect(): void {
    if (this.disposed) return;
    const wsUrl = new URL("/rpc", this.options.baseUrl);
    wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";
    wsUrl.searchParams.set("token", this.options.token);
    const socket: LinkSocket = this.options.createSocket?.(wsUrl.toString()) ?? new WebSocket(wsUrl.toString());
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.backoff.reset();
      this.setState("open");
      this.armProbe();
    });
    socket.addEventListener("message", (message) => {
      if (socket !== this.socket) return;
      this.armProbe();
      if (typeof message.data === "string") this.receive(message.data);
    });
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
    });
    socket.addEventListener("close", () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.failPending("the connection to the daemon was lost");
      if (this.disposed) return;
      this.setState("reconnecting");
      void this.retryUnlessRefused(opened);
    });
  }

  /**
   * A browser hides why a WebSocket upgrade failed; when a connection never opened, one
   * plain request tells a refused token (stop, ask for it) from a daemon that is down (retry).
   */
  private async retryUnlessRefused(opened: boolean): Promise<void> {
    if (!opened) {
      try {
        const response = await fetch(`${this.options.baseUrl}/sessions`, {
          headers: { Authorization: `Bearer ${this.options.token}` },
        });
        if (response.status === 401) {
          this.setState("unauthorized");
          return;
        }
      } catch {
        // Down or unreachable: retry below.
      }
    }
    if (this.disposed) return;
    this.reconnectTimer = setTimeout(() => this.connect(), this.backoff.next());
  }

  private receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    for (const item of Array.isArray(message) ? message : [message]) {
      if (typeof item !== "object" || item === null) continue;
      const { id, method, params, result, error } = item as {
        id?: unknown;
        method?: unknown;
        params?: unknown;
        result?: unknown;
        error?: { message?: string; data?: unknown };
      };
      if (method === "event" && params) {
        for (const listener of [...this.eventListeners]) listener(params as Event);
        continue;
      }
      if (typeof id !== "number") continue;
      const pending = this.pending.get(id);
      if (!pending) continue;
      this.pending.delete(id);
      clearTimeout(pending.timer);
      if (error) {
        pending.reject(
          isApiError(error.data)
            ? DaemonError.fromApi(error.data)
            : new DaemonError("INTERNAL", error.message ?? "the daemon refused the call"),
        );
      } else {
        pending.resolve(result);
      }
    }
  }

  private request(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) {
      return Promise.reject(new DaemonError("DISCONNECTED", "not connected to the daemon; reconnecting…"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DaemonError("DISCONNECTED", `the daemon did not answer ${method} in time`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /** After a quiet spell, one cheap call; no answer means the socket is dead: reconnect. */
  private armProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => {
      const socket = this.socket;
      if (!socket) return;
      this.request("session/list", {}, PROBE_TIMEOUT_MS).catch(() => {
        if (socket === this.socket) socket.close();
      });
    }, IDLE_PROBE_MS);
  }

  private failPending(why: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new DaemonError("DISCONNECTED", why));
      this.pending.delete(id);
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }

  private async http(
    method: string,
    url: string,
    body: Blob,
    contentType: string,
    withToken: boolean,
  ): Promise<unknown> {
    const headers: Record<string, string> = { "Content-Type": contentType };
    if (withToken) headers["Authorization"] = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(url, { method, body, headers });
    } catch (error) {
      throw new DaemonError("DISCONNECTED", `cannot reach the daemon: ${String(error)}`);
    }
    const text = await response.text();
    let value: unknown = null;
    try {
      value = text ? JSON.parse(text) : null;
    } catch {
      value = null;
    }
    if (!response.ok) {
      if (isApiError(value)) throw DaemonError.fromApi(value);
      throw new DaemonError("INTERNAL", `the daemon answered HTTP ${response.status}`);
    }
    return value;
  }
}
