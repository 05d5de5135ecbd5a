// The panel in a real browser against a real daemon: `devflow serve` on a temp state dir
// with a copy of the simple-sidebar fixture, driven through Debian's chromium. The tests run
// in order and share one daemon (the restart test restarts it on the same port and state).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { artifactsDir, copySite, Daemon, fixtures, launchBrowser, repo, storedZip, tempDir } from "./harness.mjs";

const TOKEN = "e2e-token-0123456789abcdef";
const artifacts = artifactsDir();
const work = tempDir("devflow-e2e-");
const extraDirs = [];
let daemon;
let browser;
let site;
let session;

const HEADING_DIFF = `--- a/index.html
+++ b/index.html
@@ -52,3 +52,3 @@
                 <div class="container-fluid">
-                    <h1 class="mt-4">Simple Sidebar</h1>
+                    <h1 class="mt-4">Simple Sidebar, restyled by devflow</h1>
                     <p>The starting state of the menu will appear collapsed on smaller screens, and will appear non-collapsed on larger screens. When toggled using the button below, the menu will change.</p>
`;

const CSS_DIFF = `--- a/css/styles.css
+++ b/css/styles.css
@@ -94,3 +94,3 @@
 body {
   margin: 0;
-  font-family: var(--bs-body-font-family);
+  font-family: Georgia, serif;
`;

async function shot(page, name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

async function openPanel(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  // The panel's own console (CSP violations land here); the previewed site's is its business.
  page.on("console", (message) => {
    if (message.type() === "error" && message.location().url.startsWith(daemon.baseUrl)) errors.push(message.text());
  });
  await page.goto(daemon.panelUrl(session.sessionId));
  await page.locator("#connection[data-state=open]").waitFor();
  await page.locator("#preview:not([hidden])").waitFor();
  page.errors = errors;
  return page;
}

function box(page, selector) {
  return page.locator(selector).boundingBox();
}

/** Every `[data-seq]` in the timeline, and every command card id, in document order. */
function timelineIds(page) {
  return page.evaluate(() => ({
    seqs: [...document.querySelectorAll("#timeline [data-seq]")].map((e) => Number(e.getAttribute("data-seq"))),
    cards: [...document.querySelectorAll("#timeline li.cmd")].map((e) => e.getAttribute("data-command-id")),
  }));
}

function previewHeading(page) {
  return page.frameLocator("#preview").locator("h1").first().textContent();
}

function previewFont(page) {
  return page.frameLocator("#preview").locator("body").evaluate((body) => getComputedStyle(body).fontFamily);
}

/** The card of the next command, after `send()` submitted it; resolves once it is READY or FAILED. */
async function nextCommand(page, send) {
  const index = await page.locator("#timeline li.cmd").count();
  await send();
  const card = page.locator("#timeline li.cmd").nth(index);
  await card.waitFor();
  await page.waitForFunction(
    (i) => ["READY", "FAILED"].includes(document.querySelectorAll("#timeline li.cmd")[i]?.dataset.status),
    index,
    { timeout: 30_000 },
  );
  return card;
}

/** Polls `check` for up to 5 s; fails with `what` when it never holds. */
async function waitFor(check, what) {
  for (let i = 0; i < 50; i++) {
    try {
      if (await check()) return;
    } catch {
      // The frame may be between documents.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out: ${what}`);
}

before(async () => {
  site = copySite("simple-sidebar", work);
  daemon = await new Daemon({ stateDir: join(work, "state"), token: TOKEN }).start();
  session = await daemon.openFolder(site);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  for (const dir of [work, ...extraDirs]) rmSync(dir, { recursive: true, force: true });
});

test("the page and its assets need no token, carry a strict CSP and refuse foreign Host names", async () => {
  const get = (path, host) =>
    new Promise((resolve, reject) => {
      const url = new URL(path, daemon.baseUrl);
      const request = http.get(
        { host: url.hostname, port: url.port, path: url.pathname, headers: host ? { Host: host } : {} },
        (response) => {
          let body = "";
          response.on("data", (chunk) => (body += chunk));
          response.on("end", () => resolve({ status: response.statusCode, headers: response.headers, body }));
        },
      );
      request.on("error", reject);
    });
  const page = await get("/");
  assert.equal(page.status, 200);
  assert.match(page.headers["content-type"], /^text\/html/);
  const csp = page.headers["content-security-policy"];
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${daemon.port}`));
  assert.match(csp, /frame-src http:\/\/127\.0\.0\.1:\* http:\/\/localhost:\*/);
  assert.ok(!page.body.includes(TOKEN));
  for (const [path, type] of [["/ui/panel.js", /javascript/], ["/ui/panel.css", /text\/css/]]) {
    const asset = await get(path);
    assert.equal(asset.status, 200, path);
    assert.match(asset.headers["content-type"], type);
  }
  // The binary under test embeds the bundle that is checked in.
  assert.equal((await get("/ui/panel.js")).body, readFileSync(join(repo, "extension/dist/panel.js"), "utf8"));
  assert.equal((await get("/", `evil.example:${daemon.port}`)).status, 403);
  assert.equal((await get("/sessions")).status, 401, "the API still needs the token");
});

test("the layout stays left preview, right reference, bottom input at every size", async () => {
  const sizes = [
    { width: 1440, height: 900 },
    { width: 1280, height: 800 },
    { width: 1024, height: 700 },
    { width: 800, height: 600 },
  ];
  for (const viewport of sizes) {
    const page = await openPanel(viewport);
    assert.ok(!page.url().includes("token="), `the token stays in the address: ${page.url()}`);
    const preview = await box(page, "#preview-pane");
    const frame = await box(page, "#preview");
    const reference = await box(page, "#reference-pane");
    const activity = await box(page, "#timeline-pane");
    const input = await box(page, "#instruction-form");
    const header = await box(page, ".topbar");
    const label = `${viewport.width}×${viewport.height}`;
    assert.ok(Math.abs(preview.x) <= 1, `${label}: preview starts at the left edge`);
    assert.ok(preview.x + preview.width <= reference.x + 1, `${label}: reference is right of the preview`);
    assert.ok(Math.abs(reference.x + reference.width - viewport.width) <= 1, `${label}: reference reaches the right edge`);
    assert.ok(preview.width > reference.width, `${label}: the preview is the wider side`);
    assert.ok(reference.width >= 300, `${label}: the reference keeps a usable width`);
    assert.ok(frame.height > 200 && frame.width > 300, `${label}: the preview frame has room`);
    assert.ok(activity.y >= reference.y + reference.height - 1, `${label}: activity sits under the reference`);
    assert.ok(input.y >= preview.y + preview.height - 1, `${label}: input is below the preview`);
    assert.ok(input.y >= activity.y + activity.height - 1, `${label}: input is below the right column`);
    assert.ok(Math.abs(input.y + input.height - viewport.height) <= 1, `${label}: input sits at the bottom`);
    assert.ok(Math.abs(input.width - viewport.width) <= 1, `${label}: input spans the width`);
    assert.ok(header.y <= 1 && preview.y >= header.y + header.height - 1, `${label}: header on top`);
    const scroll = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]);
    assert.deepEqual(scroll, [viewport.width, viewport.height], `${label}: the page itself never scrolls`);
    await shot(page, `layout-${viewport.width}x${viewport.height}`);
    assert.deepEqual(page.errors, [], `${label}: no errors in the panel's console`);
    await page.context().close();
  }
});

test("an instruction shows QUEUED at once, then its outcome; a failure has its summary and a working logs link", async () => {
  const page = await openPanel();
  await page.evaluate(() => {
    window.__chip = [];
    new MutationObserver((records) => {
      for (const record of records) for (const node of record.addedNodes) window.__chip.push(node.textContent);
    }).observe(document.getElementById("status-text"), { childList: true, characterData: true, subtree: true });
  });
  const input = page.locator("#instruction");
  await input.click();
  await input.pressSequentially("make the buttons use the brand colour");
  await input.press("Shift+Enter");
  await input.pressSequentially("and round them");
  assert.equal(await input.inputValue(), "make the buttons use the brand colour\nand round them");
  const sent = Date.now();
  const card = await nextCommand(page, () => input.press("Enter"));
  const firstUpdate = Date.now() - sent;
  assert.ok(firstUpdate < 30_000, `first status update after ${firstUpdate} ms`);
  const statuses = await card.locator(".event[data-type=COMMAND_STATUS] .ev-text").allTextContents();
  assert.match(statuses[0], /^QUEUED/);
  const chip = await page.evaluate(() => window.__chip);
  assert.equal(chip[0], "QUEUED", `the chip showed ${chip.join(" → ")}`);
  assert.equal(await input.inputValue(), "", "the box is cleared after sending");
  assert.equal(await card.locator(".cmd-title").textContent(), "make the buttons use the brand colour\nand round them");
  const status = await card.getAttribute("data-status");
  assert.equal(await page.locator("#status-text").textContent(), status);
  if (status === "FAILED") {
    // Until a proposer is configured the daemon says so; the panel shows that summary.
    const summary = await card.locator(".failure-summary").textContent();
    assert.ok(summary.length > "Failed: ".length + 5, `summary: ${summary}`);
    assert.equal(statuses.at(-1), "FAILED");
    const command = await daemon.api("GET", `/sessions/${session.sessionId}/commands/${await card.getAttribute("data-command-id")}`);
    assert.equal(summary, `Failed: ${command.errorSummary}`);
    await shot(page, "instruction-failed");
    const popup = page.context().waitForEvent("page");
    await card.locator("a.logs-link").click();
    const logs = await popup;
    await logs.waitForLoadState();
    const text = await logs.locator("body").textContent();
    assert.match(text, /INFO/, "the logs link opens the session log");
    assert.ok(!logs.url().includes("/?"), "the logs open on the daemon's logs route");
    await logs.close();
  } else {
    await card.locator(".diff").waitFor();
  }
  // ↑ brings the instruction back.
  await input.press("ArrowUp");
  assert.equal(await input.inputValue(), "make the buttons use the brand colour\nand round them");
  await input.fill("");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("an instruction the built-in proposer understands goes QUEUED → ANALYZING → PATCHING → READY and restyles the preview", async (t) => {
  const page = await openPanel();
  const headingSize = () =>
    page.frameLocator("#preview").locator("h1").first().evaluate((h1) => parseFloat(getComputedStyle(h1).fontSize));
  const before = await headingSize();
  await page.evaluate(() => {
    window.__marker = "kept";
    window.__chip = [];
    new MutationObserver((records) => {
      for (const record of records) for (const node of record.addedNodes) window.__chip.push(node.textContent);
    }).observe(document.getElementById("status-text"), { childList: true });
  });
  const input = page.locator("#instruction");
  await input.fill("見出しをもっと大きく");
  const card = await nextCommand(page, () => input.press("Enter"));
  if ((await card.getAttribute("data-status")) === "FAILED") {
    const summary = await card.locator(".failure-summary").textContent();
    if (/no builtin proposer is configured/.test(summary)) return t.skip("this daemon has no built-in proposer");
    assert.fail(`the built-in proposer failed: ${summary}`);
  }
  assert.deepEqual(await page.evaluate(() => window.__chip), ["QUEUED", "ANALYZING", "PATCHING", "READY"]);
  await card.locator(".diff .line.add").first().waitFor();
  await waitFor(async () => (await headingSize()) > before, "the heading grew in the preview");
  assert.equal(await page.evaluate(() => window.__marker), "kept", "the panel did not reload");
  await card.scrollIntoViewIfNeeded();
  await shot(page, "instruction-ready");
  // Undo it from the panel, so later tests start from the fixture as it was.
  await card.locator("button.rollback").click();
  await card.locator("button.rollback", { hasText: "Rolled back" }).waitFor();
  await waitFor(async () => (await headingSize()) === before, "the heading is back to its size");
  assert.ok(readFileSync(join(site, "css/styles.css")).equals(readFileSync(join(fixtures, "sites/simple-sidebar/css/styles.css"))));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a patch that cannot apply fails with its summary, and nothing changes on disk", async () => {
  const before = readFileSync(join(site, "index.html"));
  const page = await openPanel();
  const bad = HEADING_DIFF.replace("<h1 class=\"mt-4\">Simple Sidebar</h1>", "<h1 class=\"mt-4\">No such heading</h1>");
  const { commandId } = await daemon.api("POST", `/sessions/${session.sessionId}/patches`, {
    unified_diff: bad,
    reason: "a diff whose context is not in the file",
  });
  const card = page.locator(`#timeline li.cmd[data-command-id="${commandId}"]`);
  await card.locator(".failure").waitFor();
  assert.equal(await card.getAttribute("data-status"), "FAILED");
  assert.match(await card.locator(".failure-summary").textContent(), /index\.html/);
  const href = await card.locator("a.logs-link").getAttribute("href");
  const response = await page.evaluate(async (url) => {
    const r = await fetch(url);
    return { status: r.status, text: await r.text() };
  }, href);
  assert.equal(response.status, 200);
  assert.ok(response.text.includes(commandId), "the log names the failed command");
  assert.ok(readFileSync(join(site, "index.html")).equals(before));
  await page.context().close();
});

test("an applied patch shows READY with its diff and updates the preview without reloading the panel", async () => {
  const page = await openPanel();
  assert.equal((await previewHeading(page)).trim(), "Simple Sidebar");
  await page.evaluate(() => {
    window.__marker = "still here";
  });
  const navigations = await page.evaluate(() => performance.getEntriesByType("navigation").length);
  const { commandId } = await daemon.api("POST", `/sessions/${session.sessionId}/patches`, {
    unified_diff: HEADING_DIFF,
    reason: "a clearer heading",
  });
  const card = page.locator(`#timeline li.cmd[data-command-id="${commandId}"]`);
  await page.locator(`#timeline li.cmd[data-command-id="${commandId}"][data-status=READY]`).waitFor();
  await card.locator(".diff .line.add").first().waitFor();
  assert.match(await card.locator(".diff .line.add").first().textContent(), /restyled by devflow/);
  assert.match(await card.locator(".diff .line.del").first().textContent(), /Simple Sidebar<\/h1>/);
  assert.equal(await card.locator(".cmd-title").textContent(), "Manual patch: a clearer heading");
  // The preview page's own reload client (injected by the preview proxy) reloads it.
  await waitFor(async () => (await previewHeading(page)).includes("restyled by devflow"), "the preview changed");
  assert.equal(await page.evaluate(() => window.__marker), "still here", "the panel did not reload");
  assert.equal(await page.evaluate(() => performance.getEntriesByType("navigation").length), navigations);
  assert.equal(await page.locator("#status-text").textContent(), "READY");
  await card.scrollIntoViewIfNeeded();
  await shot(page, "patch-ready");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("Rollback restores the files byte for byte and the preview follows", async () => {
  const original = readFileSync(join(fixtures, "sites/simple-sidebar/index.html"));
  const originalCss = readFileSync(join(fixtures, "sites/simple-sidebar/css/styles.css"));
  const page = await openPanel();
  // A second patch on another file, so the rollback of the first takes both back.
  const { commandId } = await daemon.api("POST", `/sessions/${session.sessionId}/patches`, {
    unified_diff: CSS_DIFF,
    reason: "serif body text",
  });
  await page.locator(`#timeline li.cmd[data-command-id="${commandId}"][data-status=READY]`).waitFor();
  assert.ok(!readFileSync(join(site, "css/styles.css")).equals(originalCss));
  await waitFor(async () => (await previewFont(page)).includes("Georgia"), "the preview took the new stylesheet");
  const headingCard = page.locator("#timeline li.cmd", { hasText: "Manual patch: a clearer heading" });
  const button = headingCard.locator("button.rollback");
  await button.waitFor();
  assert.match(await button.getAttribute("title"), /also rolls back the 1 later patch/i);
  await button.focus();
  await page.keyboard.press("Enter");
  await headingCard.locator("button.rollback", { hasText: "Rolled back" }).waitFor();
  await page.locator(`#timeline li.cmd[data-command-id="${commandId}"] button.rollback:disabled`).waitFor();
  assert.ok(readFileSync(join(site, "index.html")).equals(original), "index.html is byte-identical");
  assert.ok(readFileSync(join(site, "css/styles.css")).equals(originalCss), "styles.css is byte-identical");
  await waitFor(async () => (await previewHeading(page)).trim() === "Simple Sidebar", "the preview shows the old heading");
  await waitFor(async () => !(await previewFont(page)).includes("Georgia"), "the preview shows the old font");
  await shot(page, "rolled-back");
  await page.context().close();
});

test("a preview page that runs devflow's reload client is left to reload itself", async (t) => {
  const page = await openPanel();
  await page.frameLocator("#preview").locator("h1").first().waitFor();
  const previewOrigin = new URL((await daemon.api("GET", `/sessions/${session.sessionId}`)).previewUrl).origin;
  const preview = page.frames().find((f) => f.parentFrame() === page.mainFrame() && f.url().startsWith(previewOrigin));
  if (!(await preview.evaluate(() => Boolean(window.__devflowClient)))) {
    return t.skip("this preview has no reload client yet");
  }
  // The client's hello to its parent (what the reload client sends once loaded).
  await preview.evaluate(() => window.parent.postMessage({ type: "devflow:reload-client", version: 1 }, "*"));
  const reloads = await page.locator("#preview").getAttribute("data-reloads");
  const src = await page.locator("#preview").getAttribute("src");
  const { commandId } = await daemon.api("POST", `/sessions/${session.sessionId}/patches`, {
    unified_diff: HEADING_DIFF,
    reason: "a heading the page reloads by itself",
  });
  await page.locator(`#timeline li.cmd[data-command-id="${commandId}"][data-status=READY]`).waitFor();
  await waitFor(async () => (await previewHeading(page)).includes("restyled by devflow"), "the page reloaded itself");
  assert.equal(await page.locator("#preview").getAttribute("data-reloads"), reloads, "the panel did not reload the frame");
  assert.equal(await page.locator("#preview").getAttribute("src"), src);
  await daemon.api("POST", `/sessions/${session.sessionId}/rollback`, {});
  await waitFor(async () => (await previewHeading(page)).trim() === "Simple Sidebar", "the page reloaded itself again");
  await page.context().close();
});

test("pausing disables the input with a reason; the panel works from the keyboard", async () => {
  const page = await openPanel();
  const input = page.locator("#instruction");
  // Focus order follows the layout: header controls first.
  await page.evaluate(() => document.activeElement?.blur());
  const order = [];
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName));
  }
  assert.deepEqual(order.slice(0, 4), ["session-picker", "new-session", "pause", "stop"]);
  await page.locator("#pause").focus();
  await page.keyboard.press("Enter");
  await page.locator("#pause[aria-pressed=true]").waitFor();
  assert.ok(await input.isDisabled());
  assert.match(await page.locator("#instruction-hint").textContent(), /paused/i);
  await shot(page, "paused");
  await page.keyboard.press("Enter");
  await page.locator("#pause[aria-pressed=false]").waitFor();
  assert.ok(await input.isEnabled());
  // Every control has an accessible name.
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("button, select, textarea, input:not([type=file]), iframe")]
      .filter((e) => !e.hidden && !e.closest("[hidden]") && !e.closest("dialog:not([open])"))
      .filter((e) => {
        const labelled = e.id && document.querySelector(`label[for="${e.id}"]`);
        return !(e.getAttribute("aria-label") || e.getAttribute("title") || labelled || e.textContent.trim());
      })
      .map((e) => e.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unnamed, []);
  await page.context().close();
});

test("the FrontSwatch side shows the reference's tokens and drift score, or says why not", async () => {
  const page = await openPanel();
  const body = page.locator("#reference-body");
  await body.locator(".empty, .reference").first().waitFor();
  const empty = await body.locator(".empty").count();
  if (empty > 0 && (await body.textContent()).includes("not available")) {
    await shot(page, "reference-unavailable");
    return;
  }
  await page.locator("#reference-input").setInputFiles(join(fixtures, "tokens/dtcg-small/tokens.json"));
  await body.locator(".reference, .empty").first().waitFor();
  await body.locator(".swatches li").first().waitFor();
  const names = await body.locator(".swatches .token-name").allTextContents();
  assert.ok(names.includes("brand.primary"), names.join(", "));
  assert.equal(await body.locator(".swatches .token-name", { hasText: /^brand.primary$/ }).getAttribute("title"), "color.brand.primary → {color.palette.indigo.500}\nPrimary actions, links, focus rings.");
  assert.ok((await body.locator(".token-group").count()) >= 3);
  const meter = body.locator("meter");
  if ((await meter.count()) > 0) {
    const value = Number(await meter.getAttribute("value"));
    assert.ok(value >= 0 && value <= 1);
  }
  await shot(page, "reference");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "reference-dark");

  // Two screens: the one picked stays shown when the pane is drawn again (on every upload,
  // and when a refetch after REFERENCE_UPDATED or DRIFT_REPORT brings another reference).
  const tokens = readFileSync(join(fixtures, "tokens/dtcg-small/tokens.json"));
  const icon = readFileSync(join(fixtures, "sites/html5-boilerplate/icon.png"));
  const zip = storedZip([
    ["tokens.json", tokens],
    ["screens/about.html", Buffer.from("<!doctype html><h1>About</h1>")],
    ["screens/home.png", icon],
  ]);
  const upload = () => page.locator("#reference-input").setInputFiles({ name: "reference.zip", mimeType: "application/zip", buffer: zip });
  await upload();
  await body.locator(".screens select").waitFor();
  await body.locator(".screens select").selectOption({ label: "home" });
  await body.locator("img.screen").waitFor();
  const drawn = await body.locator(".reference").elementHandle();
  await upload();
  await waitFor(async () => (await drawn.evaluate((el) => !el.isConnected)) || null, "the pane drawn again");
  await body.locator("img.screen").waitFor();
  assert.equal(await body.locator(".screens select option:checked").textContent(), "home");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a zip dropped on the panel becomes a new session with its preview", async () => {
  const zipPath = join(work, "upload-site.zip");
  execFileSync("python3", ["-m", "zipfile", "-c", zipPath, "."], { cwd: join(fixtures, "sites/simple-sidebar") });
  const page = await openPanel();
  const bytes = readFileSync(zipPath).toString("base64");
  await page.evaluate((b64) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], "upload-site.zip", { type: "application/zip" }));
    document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, bytes);
  await page.waitForFunction(() => new URL(location.href).searchParams.get("session") !== null);
  await page.waitForFunction(
    (first) => new URL(location.href).searchParams.get("session") !== first,
    session.sessionId,
  );
  await page.locator("#preview:not([hidden])").waitFor();
  assert.match(await page.locator("#session-picker option:checked").textContent(), /upload-site/);
  assert.equal((await previewHeading(page)).trim(), "Simple Sidebar");
  assert.equal(await page.locator("#timeline li.cmd").count(), 0);
  // And back to the first session through the picker.
  await page.locator("#session-picker").selectOption(session.sessionId);
  await page.locator("#timeline li.cmd").first().waitFor();
  await page.context().close();
});

test("a folder opened from the dialog by its path becomes a session", async () => {
  const otherDir = tempDir("devflow-e2e-folder-");
  extraDirs.push(otherDir);
  const other = copySite("simple-sidebar", otherDir);
  const page = await openPanel();
  await page.locator("#new-session").click();
  const dialog = page.locator("#new-session-dialog");
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "session-name");
  await page.keyboard.type("second site");
  await dialog.locator("#folder-path").fill(other);
  await shot(page, "new-session-dialog");
  await dialog.locator("#folder-path").press("Enter");
  await page.waitForFunction((first) => {
    const id = new URL(location.href).searchParams.get("session");
    return id !== null && id !== first;
  }, session.sessionId);
  await page.locator("#preview:not([hidden])").waitFor();
  assert.equal(await dialog.isVisible(), false);
  assert.match(await page.locator("#session-picker option:checked").textContent(), /second site/);
  // A path that is not a folder is refused with the daemon's reason, in the dialog.
  await page.locator("#new-session").click();
  await dialog.locator("#folder-path").fill(join(other, "does-not-exist"));
  await dialog.locator("#open-folder").click();
  await dialog.locator("#new-session-error:not(:empty)").waitFor();
  assert.ok((await dialog.locator("#new-session-error").textContent()).length > 10);
  await page.keyboard.press("Escape");
  assert.equal(await dialog.isVisible(), false);
  await page.context().close();
});

test("after a daemon restart the panel reconnects, resumes from its last seq and shows nothing twice", async () => {
  const page = await openPanel();
  const subscribes = [];
  page.on("websocket", (socket) => {
    socket.on("framesent", (frame) => {
      const text = String(frame.payload);
      if (text.includes('"session/subscribe"')) subscribes.push(JSON.parse(text).params);
    });
  });
  await page.locator("#timeline li.cmd").first().waitFor();
  const before = await timelineIds(page);
  assert.ok(before.seqs.length > 5);
  assert.equal(new Set(before.seqs).size, before.seqs.length);

  await daemon.stop("SIGKILL");
  await page.locator("#connection[data-state=reconnecting]").waitFor();
  assert.ok(await page.locator("#instruction").isDisabled());
  assert.match(await page.locator("#instruction-hint").textContent(), /reconnecting/i);
  await shot(page, "reconnecting");

  await daemon.start();
  await page.locator("#connection[data-state=open]").waitFor({ timeout: 15_000 });
  const lastSeen = Math.max(...before.seqs);
  await page.waitForFunction(() => !document.querySelector("#instruction").disabled);
  assert.ok(subscribes.length >= 1, "the panel subscribed again");
  assert.equal(subscribes[0].afterSeq, lastSeen, "it resumed after the last seq it had");

  // Something new after the restart arrives once, after everything that was there.
  const { commandId } = await daemon.api("POST", `/sessions/${session.sessionId}/patches`, {
    unified_diff: CSS_DIFF,
    reason: "serif body text, again",
  });
  await page.locator(`#timeline li.cmd[data-command-id="${commandId}"][data-status=READY]`).waitFor();
  const afterIds = await timelineIds(page);
  assert.equal(new Set(afterIds.seqs).size, afterIds.seqs.length, "no event is shown twice");
  assert.equal(new Set(afterIds.cards).size, afterIds.cards.length, "no command is shown twice");
  assert.deepEqual(afterIds.seqs.slice(0, before.seqs.length), before.seqs);
  assert.deepEqual(afterIds.cards.slice(0, before.cards.length), before.cards);
  // The preview may have moved to a new port; the frame follows the session.
  // (The restarted daemon brings the preview back on its own, so wait for the last URL.)
  await waitFor(async () => {
    const current = await daemon.api("GET", `/sessions/${session.sessionId}`);
    const frameSrc = new URL(await page.locator("#preview").getAttribute("src"));
    return current.previewUrl && frameSrc.origin + frameSrc.pathname === new URL(current.previewUrl).href;
  }, "the preview frame shows the session's current previewUrl");
  await shot(page, "reconnected");
  await page.context().close();
  // Leave the fixture as it was for anyone reading the temp dir.
  await daemon.api("POST", `/sessions/${session.sessionId}/rollback`, {});
  writeFileSync(join(artifacts, "README.txt"), "Screenshots of devflow's panel taken by tests/e2e.\n");
});
