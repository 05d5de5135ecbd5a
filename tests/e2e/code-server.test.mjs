// The VS Code extension in code-server (the browser IDE of seed 001): the .vsix built from
// extension/ is installed, the command "devflow: New Session from Folder" starts
// `devflow lsp` and opens the panel as a webview, and the panel works there — preview,
// status, an instruction's outcome, the status bar, and the pictures and reference screens,
// which have no HTTP route there and come over `resource/read`. Needs code-server installed
// (install-code-server.sh; DEVFLOW_CODE_SERVER_DIR); skipped otherwise.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { artifactsDir, copySite, devflowBinary, fixtures, launchBrowser, repo, storedZip, tempDir, track } from "./harness.mjs";

const dir = process.env.DEVFLOW_CODE_SERVER_DIR;
const entry = dir ? join(dir, "node_modules/code-server/out/node/entry.js") : null;
const skip = entry && existsSync(entry) ? false : "code-server is not installed (set DEVFLOW_CODE_SERVER_DIR; see install-code-server.sh)";

let server = null;
let browser = null;
let url = null;
let workspace = null;
const work = tempDir("devflow-code-server-");

/** Polls `check` (in the webview, out of reach of page.waitForFunction) until it is truthy. */
async function until(what, check, timeout = 30_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check().catch(() => null);
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** code-server's first run writes into HOME; keep all of it in the temp dir, offline. */
function environment() {
  const home = join(work, "home");
  mkdirSync(home, { recursive: true });
  return {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_CACHE_HOME: join(home, ".cache"),
    EXTENSIONS_GALLERY: "{}",
  };
}

before(async () => {
  if (skip) return;
  const data = join(work, "data");
  const extensions = join(work, "extensions");
  mkdirSync(join(data, "User"), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  workspace = copySite("simple-sidebar", work);
  writeFileSync(
    join(data, "User/settings.json"),
    JSON.stringify({
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "extensions.ignoreRecommendations": true,
      "workbench.enableExperiments": false,
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "git.enabled": false,
      "security.workspace.trust.enabled": false,
      "devflow.path": devflowBinary(),
      "devflow.stateDir": join(work, "devflow-state"),
    }),
  );
  const port = await freePort();
  const config = join(work, "config.yaml");
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const vsix = join(work, "devflow.vsix");
  execFileSync(
    join(repo, "extension/node_modules/.bin/vsce"),
    ["package", "--no-dependencies", "--allow-missing-repository", "--out", vsix],
    { cwd: join(repo, "extension"), stdio: ["ignore", "pipe", "pipe"] },
  );
  const env = environment();
  const common = ["--config", config, "--user-data-dir", data, "--extensions-dir", extensions];
  execFileSync("node", [entry, ...common, "--install-extension", vsix, "--force"], { env, stdio: "pipe" });
  server = spawn(
    "node",
    [
      entry,
      ...common,
      "--auth",
      "none",
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--disable-getting-started-override",
      "--bind-addr",
      `127.0.0.1:${port}`,
      workspace,
    ],
    { env, stdio: "ignore", detached: true },
  );
  track(server, true);
  url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  // code-server's entry is a wrapper; its group holds the server, the extension host and,
  // through it, `devflow lsp`.
  if (server?.pid && server.exitCode === null) {
    const exited = new Promise((done) => server.once("exit", done));
    try {
      process.kill(-server.pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

test("the .vsix runs in code-server: the command opens the panel, which drives devflow lsp", { skip, timeout: 150_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({ timeout: 60_000 });
  await page.keyboard.press("Control+Shift+P");
  const palette = page.locator(".quick-input-widget input");
  await palette.waitFor({ state: "visible" });
  await palette.fill(">devflow: New Session from Folder");
  // The command is listed once code-server has read the extension's manifest, which takes
  // longer than the default 30 s on a loaded machine.
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "New Session from Folder" }).first().waitFor({ timeout: 90_000 });
  await page.keyboard.press("Enter");

  // A webview is two nested iframes; the preview is a third one inside the panel.
  const panel = page.frameLocator("iframe.webview").frameLocator("iframe#active-frame");
  await panel.locator("#connection[data-state=open]").waitFor({ timeout: 30_000 });
  await panel.locator("#preview:not([hidden])").waitFor({ timeout: 30_000 });
  const heading = panel.frameLocator("#preview").locator("h1").first();
  await heading.waitFor({ timeout: 15_000 });
  assert.equal((await heading.textContent()).trim(), "Simple Sidebar");
  assert.match(await panel.locator("#session-picker option:checked").textContent(), /simple-sidebar/);

  // The panel takes the editor's theme.
  const theme = await panel.locator("body").evaluate((body) => ({
    kind: body.className,
    editor: getComputedStyle(body).getPropertyValue("--vscode-editor-background").trim(),
    panel: getComputedStyle(body).getPropertyValue("--bg").trim(),
  }));
  assert.match(theme.kind, /vscode-(light|dark|high-contrast)/);
  assert.equal(theme.panel, theme.editor);

  const input = panel.locator("#instruction");
  await input.click();
  await input.pressSequentially("見出しをもっと大きく");
  await input.press("Enter");
  const card = panel.locator("#timeline li.cmd").last();
  await panel.locator("#timeline li.cmd[data-status=READY], #timeline li.cmd[data-status=FAILED]").first().waitFor({ timeout: 30_000 });
  assert.equal(await card.locator(".cmd-title").textContent(), "見出しをもっと大きく");
  const status = await card.getAttribute("data-status");
  await page.locator(".statusbar-item", { hasText: `devflow: ${status}` }).waitFor({ timeout: 10_000 });
  if (status === "FAILED") {
    // In the editor the logs open as a document beside the panel.
    await card.locator("a.logs-link").click();
    await page.locator(".editor-instance .view-lines", { hasText: "command FAILED" }).first().waitFor({ timeout: 15_000 });
  }

  // No HTTP route reaches `devflow lsp`: the pictures come over resource/read as data: URLs.
  if (status === "READY") {
    const images = card.locator(".shot-frame img");
    await until("the before/after pictures", () =>
      images.evaluateAll((all) => all.length >= 2 && all.every((img) => img.complete && img.naturalWidth > 0 && img.src.startsWith("data:image/png;base64,"))),
    );
  }

  // A reference zip with a PNG screen and an HTML one with its own <style> and style attribute.
  const reference = storedZip([
    ["tokens.json", readFileSync(join(fixtures, "tokens/dtcg-small/tokens.json"))],
    ["screens/home.png", readFileSync(join(fixtures, "sites/html5-boilerplate/icon.png"))],
    ["screens/about.html", Buffer.from('<!doctype html><html><head><style>h1 { color: rgb(79, 70, 229); }</style></head><body><h1 style="margin-top: 17px">理想のページ</h1></body></html>')],
  ]);
  await panel.locator("#reference-input").setInputFiles({ name: "reference.zip", mimeType: "application/zip", buffer: reference });
  // Screens are listed by name: the HTML one first.
  const screenHeading = panel.frameLocator("iframe.screen").locator("h1");
  const look = await until("the HTML screen with its styles", () =>
    screenHeading.evaluate((h1) => {
      const style = getComputedStyle(h1);
      return style.color === "rgb(79, 70, 229)" && style.marginTop === "17px" ? { text: h1.textContent } : null;
    }),
  );
  assert.equal(look.text, "理想のページ");
  await panel.locator(".screens select").selectOption({ label: "home" });
  const width = await until("the reference screen image", () =>
    panel.locator("img.screen").evaluate((img) => img.complete && img.src.startsWith("data:image/png;base64,") && img.naturalWidth),
  );
  assert.equal(width, 192);
  await page.screenshot({ path: join(artifactsDir(), "code-server.png") });
});
