// The live preview in a real browser: a session's previewUrl opened directly in Debian's
// chromium. Editing a stylesheet swaps it in the same document (no navigation, computed
// style changes); editing the HTML reloads; a console error on the page becomes a
// PREVIEW_ERROR event; a page whose <meta> Content-Security-Policy forbids scripts and
// connections still gets a working reload client. Run: node --test preview.test.mjs (after
// cargo build).

import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { artifactsDir, copySite, Daemon, launchBrowser, tempDir } from "./harness.mjs";

const TOKEN = "e2e-preview-token-0123456789";
const work = tempDir("devflow-e2e-preview-");
let daemon;
let browser;
let site;
let session;

before(async () => {
  site = copySite("simple-sidebar", work);
  daemon = await new Daemon({ stateDir: join(work, "state"), token: TOKEN }).start();
  session = await daemon.openFolder(site);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** Polls `check` for up to `ms`; fails with `what` when it never holds. */
async function waitFor(check, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // Between documents.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out: ${what}`);
}

async function openPreview(url = session.previewUrl) {
  const page = await browser.newPage();
  const navigations = [];
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  });
  await page.goto(url);
  await waitFor(
    () => page.evaluate(() => window.__devflowClient?.state.socket?.readyState === 1),
    "the reload client is connected",
  );
  page.navigations = navigations;
  return page;
}

/** The events of the session after `afterSeq` until one satisfies `done` (SSE). */
async function eventsUntil(afterSeq, done, ms = 10_000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  const response = await fetch(
    `${daemon.baseUrl}/sessions/${session.sessionId}/events?afterSeq=${afterSeq}&token=${TOKEN}`,
    { signal: controller.signal },
  );
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const seen = [];
  let buffer = "";
  try {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const record = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = record
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n");
        if (!data) continue;
        const event = JSON.parse(data);
        seen.push(event);
        if (done(event)) return seen;
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  assert.fail(`no matching event; saw ${seen.map((e) => e.type).join(", ")}`);
}

test("the page carries the reload client exactly once", async () => {
  const page = await openPreview();
  const scripts = await page.evaluate(
    () => [...document.querySelectorAll('script[src="/__devflow/client.js"]')].length,
  );
  assert.equal(scripts, 1);
  await page.close();
});

test("editing a stylesheet swaps it in the same document, without a navigation", async () => {
  const page = await openPreview();
  await page.evaluate(() => {
    window.__sameDocument = "yes";
  });
  const before = await page.locator("h1").first().evaluate((h) => getComputedStyle(h).color);
  assert.notEqual(before, "rgb(1, 2, 3)");
  const navigationsBefore = page.navigations.length;
  const css = join(site, "css/styles.css");
  writeFileSync(css, readFileSync(css, "utf8") + "\nh1 { color: rgb(1, 2, 3) !important; }\n");
  await waitFor(
    () => page.locator("h1").first().evaluate((h) => getComputedStyle(h).color === "rgb(1, 2, 3)"),
    "the new colour applies",
  );
  assert.equal(await page.evaluate(() => window.__sameDocument), "yes", "the same document");
  assert.equal(page.navigations.length, navigationsBefore, "no navigation happened");
  const links = await page.evaluate(
    () => [...document.querySelectorAll('link[rel~="stylesheet"]')].map((l) => l.getAttribute("href")),
  );
  assert.equal(links.filter((href) => href.includes("styles.css")).length, 1, `one sheet left: ${links}`);
  await page.screenshot({ path: join(artifactsDir(), "preview-css-swap.png") });
  await page.close();
});

test("editing the HTML reloads the page", async () => {
  const page = await openPreview();
  await page.evaluate(() => {
    window.__sameDocument = "yes";
  });
  const index = join(site, "index.html");
  writeFileSync(index, readFileSync(index, "utf8").replace("Simple Sidebar</h1>", "Reloaded by devflow</h1>"));
  await waitFor(
    async () => (await page.locator("h1").first().textContent()) === "Reloaded by devflow",
    "the new heading shows",
  );
  assert.equal(await page.evaluate(() => window.__sameDocument), undefined, "a new document");
  await page.close();
});

test("a console error on the page becomes a PREVIEW_ERROR event", async () => {
  const page = await openPreview();
  const message = `e2e console error ${Date.now()}`;
  const waiting = eventsUntil(0, (event) => event.type === "PREVIEW_ERROR" && event.data.message === message);
  await page.evaluate((text) => console.error(text), message);
  const events = await waiting;
  assert.equal(events.at(-1).data.source, "console.error");
  await page.close();
});

test("a strict <meta> policy still lets the reload client load, connect and swap a stylesheet", async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const strict = join(work, "strict-csp");
  cpSync(join(here, "fixtures/strict-csp"), strict, { recursive: true });
  const opened = await daemon.openFolder(strict);
  const violations = [];
  const page = await browser.newPage();
  page.on("console", (message) => {
    // (The browser's own favicon request may be refused by img-src; that is the page's.)
    const text = message.text();
    if (/Content Security Policy/i.test(text) && !/favicon/i.test(text)) violations.push(text);
  });
  const navigations = [];
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  });
  await page.goto(opened.previewUrl);
  await waitFor(
    () => page.evaluate(() => window.__devflowClient?.state.socket?.readyState === 1),
    `the reload client runs and connects despite the page's policy (violations: ${violations.join(" | ")})`,
  );
  assert.equal(await page.evaluate(() => window.__appRan), true, "the page's own nonce'd script still runs");
  const policy = await page.evaluate(
    () => document.querySelector('meta[http-equiv="Content-Security-Policy"]').content,
  );
  assert.match(policy, /default-src 'none'/, `the page's policy is otherwise kept: ${policy}`);
  assert.match(policy, /'nonce-site0123456789'/, policy);

  await page.evaluate(() => {
    window.__sameDocument = "yes";
  });
  const navigationsBefore = navigations.length;
  writeFileSync(join(strict, "style.css"), "h1 {\n  color: rgb(7, 8, 9);\n}\n");
  await waitFor(
    () => page.locator("h1").evaluate((h) => getComputedStyle(h).color === "rgb(7, 8, 9)"),
    "the swapped stylesheet applies",
  );
  assert.equal(await page.evaluate(() => window.__sameDocument), "yes", "the same document");
  assert.equal(navigations.length, navigationsBefore, "no navigation happened");
  assert.deepEqual(violations, [], "nothing the client does is blocked");
  await page.close();
  await daemon.api("POST", `/sessions/${opened.sessionId}/stop`);
});

test("the Vite template's own HMR keeps working through the proxy", { timeout: 240_000 }, async () => {
  // Installs vite from the npm registry on first use (the project's dev script needs it).
  const vite = copySite("vite-vanilla", work);
  const created = await daemon.api("POST", "/sessions", { source: { kind: "dir", path: vite } });
  await daemon.api("POST", `/sessions/${created.sessionId}/start`);
  let preview;
  for (let i = 0; i < 1800 && !preview; i++) {
    const current = await daemon.api("GET", `/sessions/${created.sessionId}`);
    if (current.status === "ERROR") assert.fail(`the dev server did not start: ${current.lastErrorSummary}`);
    if (current.status === "RUNNING") preview = current.previewUrl;
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(preview, "the Vite session is RUNNING");
  const page = await browser.newPage();
  const navigations = [];
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  });
  const hmrSockets = [];
  page.on("websocket", (socket) => hmrSockets.push(socket.url()));
  await page.goto(preview);
  await page.locator("#app h1").waitFor();
  await waitFor(
    () => hmrSockets.some((url) => url.includes("token=")),
    `Vite's HMR socket connects through the proxy (saw ${hmrSockets.join(", ")})`,
  );
  assert.ok(hmrSockets.every((url) => url.startsWith(preview.replace("http://", "ws://"))), hmrSockets.join(", "));
  await page.evaluate(() => {
    window.__sameDocument = "yes";
  });
  const navigationsBefore = navigations.length;
  const css = join(vite, "src/style.css");
  writeFileSync(css, readFileSync(css, "utf8") + "\nh1 { color: rgb(4, 5, 6); }\n");
  await waitFor(
    () => page.locator("#app h1").evaluate((h) => getComputedStyle(h).color === "rgb(4, 5, 6)"),
    "Vite's css-update applies",
    10_000,
  );
  assert.equal(await page.evaluate(() => window.__sameDocument), "yes", "hot, not reloaded");
  assert.equal(navigations.length, navigationsBefore);
  await page.close();
  await daemon.api("POST", `/sessions/${created.sessionId}/stop`);
});
