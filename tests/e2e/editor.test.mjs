// The browser IDE of a session (seeds 001/004) against a real `devflow serve`: the daemon
// starts code-server for the session behind a signed editorUrl; opening it shows the
// workbench on the session's files; "devflow: Open Preview" opens the panel with the
// session's preview and status, talking to this daemon; an instruction typed there reaches
// READY and the changed file shows the change in the editor; an expired or tampered link is
// refused with 401; after the session stops its code-server is gone and the URL opens
// nothing. Needs code-server installed (scripts/install-editor; DEVFLOW_CODE_SERVER_DIR);
// skipped otherwise, like code-server.test.mjs.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { Daemon, artifactsDir, copySite, launchBrowser, repo, tempDir } from "./harness.mjs";

const dir = process.env.DEVFLOW_CODE_SERVER_DIR;
const entry = dir ? join(dir, "node_modules/code-server/out/node/entry.js") : null;
const skip = entry && existsSync(entry) ? false : "code-server is not installed (set DEVFLOW_CODE_SERVER_DIR; see scripts/install-editor)";

const work = tempDir("devflow-editor-");
const token = "editor-e2e-token-0123456789abcdef";
let daemon = null;
let browser = null;
let vsix = null;

function daemonEnv(extra = {}) {
  return {
    DEVFLOW_CODE_SERVER_DIR: dir,
    DEVFLOW_EDITOR_VSIX: vsix,
    DEVFLOW_PROPOSER: "builtin",
    ...extra,
  };
}

/** Pids of the processes in the process groups of the session's code-server. */
function editorProcesses(sessionId) {
  const stat = (pid) => {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      return { state: fields[0], group: Number(fields[2]) };
    } catch {
      return null;
    }
  };
  const pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  const groups = new Set();
  for (const pid of pids) {
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmdline.includes(`/editors/${sessionId}/`)) groups.add(stat(pid)?.group);
  }
  return pids.filter((pid) => {
    const s = stat(pid);
    return s && s.state !== "Z" && groups.has(s.group);
  });
}

before(async () => {
  if (skip) return;
  // The extension as this checkout builds it (scripts/install-editor does the same).
  vsix = join(work, "devflow.vsix");
  execFileSync(
    join(repo, "extension/node_modules/.bin/vsce"),
    ["package", "--no-dependencies", "--allow-missing-repository", "--out", vsix],
    { cwd: join(repo, "extension"), stdio: ["ignore", "pipe", "pipe"] },
  );
  daemon = await new Daemon({ stateDir: join(work, "state"), token, env: daemonEnv() }).start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("editorUrl opens the session's IDE; the panel there drives this daemon; stopping the session ends it", { skip, timeout: 240_000 }, async () => {
  const site = copySite("simple-sidebar", work);
  const session = await daemon.openFolder(site);
  const sessionId = session.sessionId;
  const { editorUrl, expiresAt } = await daemon.api("GET", `/sessions/${sessionId}/editor`);
  assert.ok(editorUrl.startsWith(`${daemon.baseUrl}/editor/${sessionId}/?grant=`), editorUrl);
  assert.ok(expiresAt > Date.now() / 1000 + 3000, `${expiresAt}`);

  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const outside = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    // Webview resources use a virtual vscode-cdn.net host that the webview's service worker
    // answers from the extension folder; the preview's own requests are the site's business.
    const virtual = url.hostname.endsWith(".vscode-resource.vscode-cdn.net");
    let fromPreview = false;
    try {
      fromPreview = request.frame().url().startsWith(session.previewUrl);
    } catch {
      // a service worker's request has no frame
    }
    if (!["127.0.0.1", "localhost"].includes(url.hostname) && url.protocol.startsWith("http") && !virtual && !fromPreview) {
      outside.push(request.url());
    }
  });
  await page.goto(editorUrl);
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  // The grant left the address bar; the page is under the session's prefix.
  const address = new URL(page.url());
  assert.equal(address.origin, daemon.baseUrl);
  assert.ok(address.pathname.startsWith(`/editor/${sessionId}/`), page.url());
  assert.equal(address.searchParams.get("grant"), null);
  const cookies = await context.cookies(daemon.baseUrl + `/editor/${sessionId}/`);
  const cookie = cookies.find((c) => c.name === "devflow_editor");
  assert.ok(cookie?.httpOnly && cookie.sameSite === "Strict", JSON.stringify(cookies));

  // The workbench shows the session's files (the remote side is up: its WebSocket works).
  const explorer = page.locator(".explorer-folders-view .monaco-list-row");
  await explorer.first().waitFor({ timeout: 60_000 });
  await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "index.html" }).waitFor({ timeout: 30_000 });
  await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "css" }).first().waitFor();

  // "devflow: Open Preview": the panel, for this session, connected to this daemon.
  await page.keyboard.press("Control+Shift+P");
  const palette = page.locator(".quick-input-widget input");
  await palette.waitFor({ state: "visible" });
  await palette.fill(">devflow: Open Preview");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Open Preview" }).first().waitFor();
  await page.keyboard.press("Enter");
  const panel = page.frameLocator("iframe.webview").frameLocator("iframe#active-frame");
  await panel.locator("#connection[data-state=open]").waitFor({ timeout: 30_000 });
  await panel.locator("#preview:not([hidden])").waitFor({ timeout: 30_000 });
  const heading = panel.frameLocator("#preview").locator("h1").first();
  await heading.waitFor({ timeout: 15_000 });
  assert.equal((await heading.textContent()).trim(), "Simple Sidebar");
  assert.equal(await panel.locator("#session-picker").inputValue(), sessionId);
  await panel.locator("#status-text").waitFor();
  await page.screenshot({ path: join(artifactsDir(), "editor-panel.png") });

  // An instruction from the panel: READY, and the file it changed shows the change.
  const input = panel.locator("#instruction");
  await input.click();
  await input.pressSequentially("見出しをもっと大きく");
  await input.press("Enter");
  const card = panel.locator("#timeline li.cmd").last();
  await panel.locator("#timeline li.cmd[data-status=READY], #timeline li.cmd[data-status=FAILED]").first().waitFor({ timeout: 60_000 });
  const status = await card.getAttribute("data-status");
  assert.equal(status, "READY", status === "FAILED" ? await card.locator(".failure-summary").textContent() : "");
  const commandId = await card.getAttribute("data-command-id");
  const command = await daemon.api("GET", `/sessions/${sessionId}/commands/${commandId}`);
  const patch = await daemon.api("GET", `/sessions/${sessionId}/patches/${command.patchId}`);
  const changed = firstAddedLine(patch.unifiedDiff);
  assert.ok(readFileSync(join(site, changed.file), "utf8").includes(changed.text), "the change is on disk");
  await page.locator(".statusbar-item", { hasText: "devflow: READY" }).waitFor({ timeout: 15_000 });

  // Open the changed file from the explorer and go to the changed line.
  const segments = changed.file.split("/");
  for (const [i, name] of segments.entries()) {
    const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${name}"]`).first();
    await row.waitFor({ timeout: 15_000 });
    if (i < segments.length - 1) {
      if ((await row.getAttribute("aria-expanded")) !== "true") await row.click();
    } else {
      await row.dblclick();
    }
  }
  await page.locator(".tabs-container .tab", { hasText: segments.at(-1) }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press("Control+G");
  await palette.waitFor({ state: "visible" });
  await palette.fill(`:${changed.line}`);
  await page.keyboard.press("Enter");
  const normalise = (text) => text.replace(/\u00a0/g, " ").replace(/\s+/g, " ").trim();
  const want = normalise(changed.text);
  const lines = page.locator(".editor-instance .view-lines").first();
  let shown = "";
  for (let i = 0; i < 100 && !shown.includes(want); i++) {
    shown = normalise((await lines.textContent()) ?? "");
    if (!shown.includes(want)) await page.waitForTimeout(100);
  }
  assert.ok(shown.includes(want), `the editor shows ${JSON.stringify(want)}; it shows ${JSON.stringify(shown.slice(0, 400))}`);
  await page.screenshot({ path: join(artifactsDir(), "editor-changed-file.png") });
  assert.deepEqual(outside, [], "nothing was fetched from outside loopback");

  // Stopping the session ends its code-server, and the editor's address opens nothing.
  const running = editorProcesses(sessionId);
  assert.ok(running.length >= 2, `code-server's processes: ${running}`);
  await daemon.api("POST", `/sessions/${sessionId}/stop`);
  // The stop returns after SIGKILL went to the group; the kernel may take a moment to end them.
  let left = editorProcesses(sessionId);
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = editorProcesses(sessionId);
  }
  assert.deepEqual(left, [], "code-server outlived its session");
  assert.ok(running.every((pid) => !existsSync(`/proc/${pid}/stat`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ")));
  const reopened = await page.goto(`${daemon.baseUrl}/editor/${sessionId}/`);
  assert.equal(reopened.status(), 409);
  assert.equal((await reopened.json()).error, "CONFLICT");
  const again = await page.goto(editorUrl);
  assert.equal(again.status(), 409);
  await context.close();
});

test("an expired editorUrl and a tampered one are refused with 401", { skip, timeout: 120_000 }, async () => {
  // A daemon whose links live 2 s.
  const short = await new Daemon({
    stateDir: join(work, "state-short"),
    token,
    env: daemonEnv({ DEVFLOW_EDITOR_GRANT_TTL: "2" }),
  }).start();
  try {
    const site = copySite("simple-sidebar", join(work, "short"));
    const created = await short.api("POST", "/sessions", { source: { kind: "dir", path: site } });
    const { editorUrl, expiresAt } = await short.api("GET", `/sessions/${created.sessionId}/editor`);
    assert.ok(expiresAt <= Math.ceil(Date.now() / 1000) + 2, `${expiresAt}`);
    const context = await browser.newContext();
    const page = await context.newPage();

    const grant = new URL(editorUrl).searchParams.get("grant");
    const [expiry, nonce, signature] = grant.split(".");
    const flipped = signature.slice(0, 5) + (signature[5] === "A" ? "B" : "A") + signature.slice(6);
    const tampered = new URL(editorUrl);
    tampered.searchParams.set("grant", `${expiry}.${nonce}.${flipped}`);
    const refusedTampered = await page.goto(tampered.toString());
    assert.equal(refusedTampered.status(), 401);
    const tamperedBody = await refusedTampered.json();
    assert.equal(tamperedBody.error, "UNAUTHORIZED");
    assert.ok(tamperedBody.requestId && tamperedBody.timestamp, JSON.stringify(tamperedBody));

    while (Date.now() / 1000 <= expiresAt) await new Promise((r) => setTimeout(r, 200));
    const refusedExpired = await page.goto(editorUrl);
    assert.equal(refusedExpired.status(), 401);
    const expiredBody = await refusedExpired.json();
    assert.equal(expiredBody.error, "UNAUTHORIZED");
    assert.match(expiredBody.message, /expired/);
    assert.equal((await context.cookies()).length, 0, "no cookie for a refused link");
    await context.close();
    await short.api("POST", `/sessions/${created.sessionId}/stop`);
  } finally {
    await short.stop();
  }
});

/** The first added line of a unified diff: its file, its line in the new file, its text. */
function firstAddedLine(diff) {
  let file = null;
  let line = 0;
  for (const text of diff.split("\n")) {
    if (text.startsWith("+++ ")) {
      file = text.slice(4).replace(/^b\//, "").trim();
    } else if (text.startsWith("@@")) {
      line = Number(/\+(\d+)/.exec(text)[1]);
    } else if (text.startsWith("+") && file) {
      if (text.slice(1).trim()) return { file, line, text: text.slice(1).trim() };
      line++;
    } else if (text.startsWith(" ")) {
      line++;
    }
  }
  throw new Error(`no added line in ${diff}`);
}
