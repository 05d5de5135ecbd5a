// The WebSocket link with a socket of the host's choosing: in the editor extension (node 20,
// no global WebSocket) the `ws` package's socket carries the same JSON-RPC as the browser's.

import assert from "node:assert/strict";
import { test } from "node:test";

import type { Event } from "../src/panel/api.ts";
import { WsLink, type LinkSocket } from "../src/panel/ws-link.ts";

class FakeSocket implements LinkSocket {
  readyState = 0;
  readonly sent: unknown[] = [];
  private readonly listeners = new Map<string, ((message: { data: unknown }) => void)[]>();

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(): void {
    this.readyState = 3;
    this.emit("close", { data: null });
  }

  addEventListener(type: string, listener: (message: { data: unknown }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  emit(type: string, message: { data: unknown }): void {
    for (const listener of this.listeners.get(type) ?? []) listener(message);
  }

  open(): void {
    this.readyState = 1;
    this.emit("open", { data: null });
  }
}

test("the link speaks JSON-RPC through the socket the host creates", async () => {
  assert.equal(typeof (globalThis as { WebSocket?: unknown }).WebSocket, "undefined", "node 20 has no WebSocket");
  const sockets: FakeSocket[] = [];
  const link = new WsLink({
    baseUrl: "http://127.0.0.1:7878",
    token: "t/k",
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
  });
  try {
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0]!.url, "ws://127.0.0.1:7878/rpc?token=t%2Fk");
    const states: string[] = [];
    link.onState((state) => states.push(state));
    const events: Event[] = [];
    link.onEvent((event) => events.push(event));
    sockets[0]!.open();
    assert.deepEqual(states, ["open"]);

    const answer = link.call("session/get", { sessionId: "s1" });
    const request = sockets[0]!.sent[0] as { id: number; method: string; params: unknown };
    assert.equal(request.method, "session/get");
    assert.deepEqual(request.params, { sessionId: "s1" });
    sockets[0]!.emit("message", { data: JSON.stringify({ jsonrpc: "2.0", id: request.id, result: { sessionId: "s1" } }) });
    assert.deepEqual(await answer, { sessionId: "s1" });

    const event = { sessionId: "s1", seq: 3, type: "SESSION_READY", at: 1, data: {} };
    sockets[0]!.emit("message", { data: JSON.stringify({ jsonrpc: "2.0", method: "event", params: event }) });
    assert.deepEqual(events, [event]);

    const refused = link.call("session/get", { sessionId: "nope" });
    const second = sockets[0]!.sent[1] as { id: number };
    const apiError = { error: "NOT_FOUND", message: "no session", requestId: "r", timestamp: 1 };
    sockets[0]!.emit("message", {
      data: JSON.stringify({ jsonrpc: "2.0", id: second.id, error: { code: -32004, message: "no session", data: apiError } }),
    });
    await assert.rejects(refused, (error: { code?: string; api?: unknown }) => error.code === "NOT_FOUND" && error.api !== null);
  } finally {
    link.dispose();
  }
});
