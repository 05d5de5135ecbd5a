// The pictures of a command in the served panel: after a patch verified in the daemon's
// browser, its card shows how it was verified and a before/after slider per viewport whose
// images load through the panel's strict CSP with the token in their URL, and the slider
// moves the split.

import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { artifactsDir, chromiumPath, copySite, Daemon, launchBrowser, tempDir } from "./harness.mjs";

const TOKEN = "e2e-token-screenshots-0123456789";
const work = tempDir("devflow-e2e-shots-");
let daemon;
let browser;
let session;

/** The page's text turns red: a visible change at both viewports. */
const RED_TEXT_DIFF = `--- a/css/style.css
+++ b/css/style.css
@@ -15,3 +15,3 @@
 html {
-  color: #222;
+  color: #c00000;
   font-size: 1em;
`;

before(async () => {
  const site = copySite("html5-boilerplate", work);
  // The daemon verifies with the same Chromium the tests drive.
  daemon = await new Daemon({ stateDir: join(work, "state"), token: TOKEN, env: { DEVFLOW_CHROME: chromiumPath() } }).start();
  session = await daemon.openFolder(site);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("a verified command shows a before/after slider per viewport with its changed share", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && message.location().url.startsWith(daemon.baseUrl)) errors.push(message.text());
  });
  await page.goto(daemon.panelUrl(session.sessionId));
  await page.locator("#connection[data-state=open]").waitFor();

  const { commandId } = await daemon.api("POST", `/sessions/${session.sessionId}/patches`, {
    unified_diff: RED_TEXT_DIFF,
    reason: "red text",
  });
  const card = page.locator(`#timeline li.cmd[data-command-id="${commandId}"]`);
  await page.locator(`#timeline li.cmd[data-command-id="${commandId}"][data-status=READY]`).waitFor({ timeout: 60_000 });
  await card.locator(".pictures .shot").nth(1).waitFor({ timeout: 10_000 });

  assert.equal(await card.locator(".verification").textContent(), "Verified in a browser: no new errors");
  const viewports = await card.locator(".shot").evaluateAll((shots) => shots.map((s) => s.dataset.viewport));
  assert.deepEqual(viewports, ["desktop", "mobile"]);

  // Every picture loads (token in the query, allowed by `img-src 'self'`) at its true size.
  await page.waitForFunction(
    (id) => {
      const images = [...document.querySelectorAll(`li.cmd[data-command-id="${id}"] .shot-frame img`)];
      return images.length === 4 && images.every((img) => img.complete && img.naturalWidth > 0);
    },
    commandId,
    { timeout: 10_000 },
  );
  const sizes = await card
    .locator(".shot-frame img.shot-after")
    .evaluateAll((images) => images.map((img) => [img.naturalWidth, img.naturalHeight]));
  assert.deepEqual(sizes, [
    [1280, 800],
    [390, 844],
  ]);
  for (const caption of await card.locator(".shot-share").allTextContents()) {
    assert.match(caption, /^(<0\.1|\d+(\.\d)?)% changed$/);
    assert.notEqual(caption, "0% changed", "red text is a visible change");
  }

  // The slider moves the split: all the way left shows only the after picture.
  const desktop = card.locator('.shot[data-viewport="desktop"]');
  const clip = () => desktop.locator("img.shot-after").evaluate((img) => img.style.clipPath);
  assert.equal(await clip(), "inset(0px 0px 0px 50%)");
  await desktop.locator("input.shot-range").focus();
  await page.keyboard.press("Home");
  assert.equal(await clip(), "inset(0px 0px 0px 0%)");
  await page.keyboard.press("End");
  assert.equal(await clip(), "inset(0px 0px 0px 100%)");

  // The difference image is there too, behind its disclosure.
  await desktop.locator(".shot-diff-box summary").click();
  await page.waitForFunction(
    (id) => document.querySelector(`li.cmd[data-command-id="${id}"] .shot[data-viewport="desktop"] img.shot-diff`)?.naturalWidth === 1280,
    commandId,
  );
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifactsDir(), "screenshots-slider.png") });
  assert.deepEqual(errors, [], "no CSP violation or script error in the panel");
  await context.close();
});
