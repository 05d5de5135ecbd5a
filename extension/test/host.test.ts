import assert from "node:assert/strict";
import { test } from "node:test";

import type { ToHost, ToWebview } from "../src/bridge-protocol.ts";
import type { Event } from "../src/panel/api.ts";
import { Bridge, errorFor, type Daemon } from "../src/host/bridge.ts";
import { lspArgs, resolveDaemon } from "../src/host/daemon-path.ts";
import { makeNonce, webviewCsp, webviewHtml } from "../src/host/html.ts";
import { StatusModel } from "../src/host/status.ts";
import { MessageLink } from "../src/panel/message-link.ts";

const apiError = {
  error: "NOT_FOUND",
  message: "no session with id \"x\"",
  requestId: "r",
  timestamp: 1,
} as const;

function fakeBridge(answer: (method: string, params: unknown) => Promise<unknown>, running = true) {
  const posted: ToWebview[] = [];
  const calls: [string, unknown][] = [];
  const files = new Map<string, Uint8Array>();
  const removed: string[] = [];
  const daemon: Daemon = {
    running,
    request: (method, params) => {
      calls.push([method, params]);
      return answer(method, params);
    },
  };
  const events: string[] = [];
  const bridge = new Bridge(
    daemon,
    {
      writeTemp: async (name, bytes) => {
        const path = `/tmp/x/${name}`;
        files.set(path, bytes);
        return path;
      },
      remove: async (path) => {
        removed.push(path);
      },
    },
    {
      post: (message) => posted.push(message),
      openLogs: (id) => events.push(`logs ${id}`),
      sessionChanged: (id) => events.push(`session ${id}`),
      ready: () => events.push("ready"),
    },
  );
  return { bridge, posted, calls, files, removed, events };
}

test("a panel call goes to the daemon and its answer comes back with the call's id", async () => {
  const { bridge, posted, calls } = fakeBridge(async () => ({ sessions: [] }));
  await bridge.receive({ kind: "call", id: 7, method: "session/list", params: {} });
  assert.deepEqual(calls, [["session/list", {}]]);
  assert.deepEqual(posted, [{ kind: "result", id: 7, result: { sessions: [] } }]);
});

test("a daemon error reaches the panel as its seed-004 object", async () => {
  const { bridge, posted } = fakeBridge(async () => {
    throw Object.assign(new Error("no session"), { code: -32004, data: apiError });
  });
  await bridge.receive({ kind: "call", id: 1, method: "session/get", params: { sessionId: "x" } });
  assert.deepEqual(posted, [{ kind: "error", id: 1, error: apiError }]);
  assert.deepEqual(errorFor(new Error("pipe closed")), { error: "DISCONNECTED", message: "pipe closed" });
});

test("calls while devflow restarts fail at once instead of hanging", async () => {
  const { bridge, posted, calls } = fakeBridge(async () => null, false);
  await bridge.receive({ kind: "call", id: 2, method: "session/list", params: {} });
  assert.equal(calls.length, 0);
  assert.equal(posted[0]!.kind, "error");
});

test("an uploaded zip is handed to session/upload by path and the temp file removed", async () => {
  const { bridge, posted, calls, files, removed } = fakeBridge(async () => ({ files: 3, bytes: 10 }));
  const bytes = new Uint8Array([0x50, 0x4b, 3, 4]);
  await bridge.receive({ kind: "uploadZip", id: 3, sessionId: "s", name: "site.zip", bytes });
  assert.deepEqual(calls, [["session/upload", { sessionId: "s", zipPath: "/tmp/x/site.zip" }]]);
  assert.deepEqual(files.get("/tmp/x/site.zip"), bytes);
  assert.deepEqual(removed, ["/tmp/x/site.zip"]);
  assert.deepEqual(posted, [{ kind: "result", id: 3, result: { files: 3, bytes: 10 } }]);
});

test("a reference file goes to reference/set by path", async () => {
  const { bridge, calls } = fakeBridge(async () => ({ referenceId: "r", tokens: [], screens: [], driftScore: null }));
  await bridge.receive({ kind: "uploadReference", id: 4, sessionId: "s", name: "tokens.json", bytes: new Uint8Array([123, 125]) });
  assert.deepEqual(calls, [["reference/set", { sessionId: "s", path: "/tmp/x/tokens.json" }]]);
});

test("panel notices reach the host", async () => {
  const { bridge, events } = fakeBridge(async () => null);
  await bridge.receive({ kind: "ready" });
  await bridge.receive({ kind: "sessionChanged", sessionId: "s" });
  await bridge.receive({ kind: "openLogs", sessionId: "s" });
  assert.deepEqual(events, ["ready", "session s", "logs s"]);
});

test("the webview link pairs answers with calls and fails them when devflow stops", async () => {
  const sent: ToHost[] = [];
  const link = new MessageLink((message) => sent.push(message));
  await assert.rejects(link.call("session/list", {}), /not running/);
  const states: string[] = [];
  link.onState((state) => states.push(state));
  link.receive({ kind: "init", sessionId: null, workspaceFolder: null, state: "open" });
  const listed = link.call("session/list", {});
  const pending = link.call("session/get", { sessionId: "x" });
  assert.deepEqual(
    sent.map((m) => (m.kind === "call" ? [m.id, m.method] : m.kind)),
    [
      [1, "session/list"],
      [2, "session/get"],
    ],
  );
  link.receive({ kind: "result", id: 1, result: { sessions: [] } });
  assert.deepEqual(await listed, { sessions: [] });
  link.receive({ kind: "state", state: "reconnecting" });
  await assert.rejects(pending, (error: Error & { code?: string }) => error.code === "DISCONNECTED");
  link.receive({ kind: "state", state: "open" });
  const failing = link.call("session/get", { sessionId: "x" });
  link.receive({ kind: "error", id: 3, error: apiError });
  await assert.rejects(failing, (error: Error & { code?: string }) => error.code === "NOT_FOUND");
  assert.deepEqual(states, ["open", "reconnecting", "open"]);
  const events: Event[] = [];
  link.onEvent((event) => events.push(event));
  const event = { sessionId: "s", seq: 1, at: 1, type: "SESSION_PAUSED", data: { paused: true } } as Event;
  link.receive({ kind: "event", event });
  assert.deepEqual(events, [event]);
  link.openLogs("http://x/logs", "s");
  assert.deepEqual(sent.at(-1), { kind: "openLogs", sessionId: "s" });
});

test("the status bar follows the open session's current command", () => {
  const model = new StatusModel();
  assert.match(model.view().text, /debug-disconnect/);
  model.connection(true);
  model.follow("s");
  const ev = (seq: number, status: string, sessionId = "s", errorSummary?: string) =>
    ({ sessionId, seq, at: seq, commandId: "c", type: "COMMAND_STATUS", data: { status, ...(errorSummary ? { errorSummary } : {}) } }) as Event;
  assert.equal(model.apply(ev(1, "ANALYZING")), true);
  assert.equal(model.view().text, "$(loading~spin) devflow: ANALYZING");
  assert.equal(model.apply(ev(1, "READY")), false, "a replayed seq changes nothing");
  assert.equal(model.apply(ev(2, "READY", "other")), false, "another session's event changes nothing");
  model.apply(ev(3, "FAILED", "s", "no proposer"));
  assert.deepEqual(model.view(), { text: "$(error) devflow: FAILED", tooltip: "devflow: FAILED — no proposer" });
});

test("the binary comes from the setting, else from PATH", () => {
  const on = (...paths: string[]) => (path: string) => paths.includes(path);
  assert.deepEqual(resolveDaemon("", "/a:/b", on("/b/devflow")), { ok: true, path: "/b/devflow" });
  assert.deepEqual(resolveDaemon("/opt/devflow", "/a", on("/opt/devflow")), { ok: true, path: "/opt/devflow" });
  assert.deepEqual(resolveDaemon("devflow-dev", "/a", on("/a/devflow-dev")), { ok: true, path: "/a/devflow-dev" });
  const missing = resolveDaemon(undefined, "/a", on());
  assert.equal(missing.ok, false);
  assert.match(!missing.ok ? missing.message : "", /devflow\.path/);
  assert.equal(resolveDaemon("/nope", "/a", on()).ok, false);
  assert.deepEqual(lspArgs(""), ["lsp"]);
  assert.deepEqual(lspArgs("/s"), ["lsp", "--state-dir", "/s"]);
});

test("the webview document loads only its own nonce'd script under a strict CSP", () => {
  const nonce = makeNonce((bytes) => bytes.fill(7));
  assert.match(nonce, /^[A-Za-z0-9]{16,}$/);
  const html = webviewHtml({ cspSource: "vscode-resource:", scriptUri: "vscode-resource:/out/webview.js", styleUri: "vscode-resource:/out/panel.css", nonce });
  const csp = webviewCsp({ cspSource: "vscode-resource:", nonce });
  assert.ok(csp.startsWith("default-src 'none'"));
  assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
  assert.match(csp, /frame-src http:\/\/127\.0\.0\.1:\* http:\/\/localhost:\*/);
  assert.ok(!csp.includes("unsafe"));
  assert.ok(html.includes(`<script nonce="${nonce}" src="vscode-resource:/out/webview.js" defer></script>`));
  assert.equal((html.match(/<script/g) ?? []).length, 1);
});
