// Pick mode in the served panel against a real daemon: the Pick button switches the preview's
// reload client into pick mode (postMessage, origins checked on both sides), a click in the
// preview iframe selects the element under the pointer, the panel shows it as a chip, and the
// next command carries it as its `target`, which the daemon resolves to the rules that style
// it. Debian's chromium through playwright-core, like panel.test.mjs.

import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { artifactsDir, copySite, Daemon, launchBrowser, tempDir } from "./harness.mjs";

const TOKEN = "e2e-token-pick-0123456789abcdef";
const work = tempDir("devflow-e2e-pick-");
let daemon;
let browser;
let session;

before(async () => {
  const site = copySite("simple-sidebar", work);
  daemon = await new Daemon({ stateDir: join(work, "state"), token: TOKEN }).start();
  session = await daemon.openFolder(site);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function openPanel() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(daemon.panelUrl(session.sessionId));
  await page.locator("#connection[data-state=open]").waitFor();
  await page.locator("#preview:not([hidden])").waitFor();
  const previewOrigin = new URL(session.previewUrl).origin;
  let frame = null;
  for (let i = 0; i < 100 && !frame; i++) {
    frame = page.frames().find((f) => f.url().startsWith(previewOrigin)) ?? null;
    if (!frame) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(frame, "the preview frame loaded");
  // Pick mode lives in the reload client; wait until it runs in the page.
  await frame.waitForFunction(() => Boolean(window.__devflowClient));
  page.errors = errors;
  return { page, frame };
}

test("pick mode selects the element under the pointer in the preview and the next command carries it", async () => {
  const { page, frame } = await openPanel();
  const pick = page.locator("#pick");

  // Esc leaves pick mode, pressed in the panel or in the preview.
  await pick.click();
  await page.locator("#pick[aria-pressed=true]").waitFor();
  await page.keyboard.press("Escape");
  await page.locator("#pick[aria-pressed=false]").waitFor();
  // The preview hears it by postMessage, after the panel's button has changed.
  await frame.waitForFunction(() => document.documentElement.style.cursor === "", null, { timeout: 5_000 });
  await pick.click();
  await page.locator("#pick[aria-pressed=true]").waitFor();
  await frame.evaluate(() => window.focus());
  await page.keyboard.press("Escape");
  await page.locator("#pick[aria-pressed=false]").waitFor();

  // A click selects the heading; the page's own handlers do not run (no navigation).
  await pick.click();
  await page.locator("#pick[aria-pressed=true]").waitFor();
  await frame.locator("#page-content-wrapper h1").hover();
  const outlined = await frame.evaluate(() => {
    const box = document.querySelector("[data-devflow-pick]");
    return box !== null && box.style.display === "block";
  });
  assert.ok(outlined, "the hovered element is outlined");
  await frame.locator("#page-content-wrapper h1").click();
  const chip = page.locator("#target-chips .target-chip");
  await chip.waitFor();
  assert.equal(await chip.locator(".target-chip-text").textContent(), "h1.mt-4 — element 1 of 1");
  const selector = await chip.getAttribute("data-selector");
  assert.equal(selector, "#page-content-wrapper > div > h1");
  await page.locator("#pick[aria-pressed=false]").waitFor();

  // Shift+click adds a second element (a repeated one, told apart); × removes it again.
  await pick.click();
  await frame.locator("#page-content-wrapper > div > p").nth(1).click({ modifiers: ["Shift"] });
  await page.locator("#target-chips .target-chip").nth(1).waitFor();
  const second = page.locator("#target-chips .target-chip").nth(1);
  assert.equal(await second.locator(".target-chip-text").textContent(), "p — element 2 of 2");
  assert.equal(await second.getAttribute("data-selector"), "#page-content-wrapper > div > p:nth-of-type(2)");
  await frame.evaluate(() => window.focus());
  await page.keyboard.press("Escape");
  await page.locator("#pick[aria-pressed=false]").waitFor();
  await page.locator("#target-chips .target-chip").nth(1).locator("button").click();
  assert.equal(await page.locator("#target-chips .target-chip").count(), 1);

  // The next command carries the picked element; the daemon resolved its rules; READY.
  const index = await page.locator("#timeline li.cmd").count();
  await page.locator("#instruction").fill("make this bigger");
  await page.locator("#instruction").press("Enter");
  const card = page.locator("#timeline li.cmd").nth(index);
  await card.waitFor();
  await page.waitForFunction(
    (i) => ["READY", "FAILED"].includes(document.querySelectorAll("#timeline li.cmd")[i]?.dataset.status),
    index,
    { timeout: 30_000 },
  );
  const commandId = await card.getAttribute("data-command-id");
  const command = await daemon.api("GET", `/sessions/${session.sessionId}/commands/${commandId}`);
  assert.equal(command.status, "READY", JSON.stringify(command));
  assert.equal(command.target.selector, selector);
  assert.equal(new URL(command.target.pageUrl).origin, new URL(session.previewUrl).origin);
  assert.ok(
    command.target.rules.some((rule) => rule.file === "css/styles.css" && rule.selector === "h1, .h1"),
    JSON.stringify(command.target.rules),
  );
  await page.screenshot({ path: join(artifactsDir(), "pick-ready.png") });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the preview ignores pick requests from any window but the panel", async () => {
  const { page, frame } = await openPanel();
  // The page itself (same origin as the preview, not the panel) cannot switch pick mode on.
  // A marker posted right after it arrives after it (same window, same queue): by then the
  // request has been handled.
  const cursor = await frame.evaluate(
    () =>
      new Promise((done) => {
        window.addEventListener("message", (event) => {
          if (event.data?.type === "marker") done(document.documentElement.style.cursor);
        });
        window.postMessage({ type: "devflow:pick", on: true }, "*");
        window.postMessage({ type: "marker" }, "*");
      }),
  );
  assert.equal(cursor, "", "pick mode stayed off");
  await page.context().close();
});
