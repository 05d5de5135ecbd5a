// Benchmarks of the per-session browser IDE (BENCHMARKS.md §5), against a real
// `devflow serve` (release build) and code-server installed by scripts/install-editor:
//   1. editorUrl → workbench visible (explorer rows drawn): cold (a new session: code-server
//      starts, the extension is installed) and warm (its code-server already runs), p50;
//   2. code-server's RSS (its whole process group, from /metrics): idle before any browser,
//      and with the workbench and the devflow panel open;
//   3. the fronting proxy against direct code-server, same run, alternating sample by sample:
//      small request round trip, a large static asset, and warm workbench load in Chromium.
// Usage: node bench/editor.mjs [--runs 5] [--requests 300] [--bin PATH]
// (bench/editor.sh builds the release binary first.)

import { spawn } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import http from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";

import { copySite, launchBrowser, tempDir } from "../tests/e2e/harness.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const runs = Number(option("--runs", "5"));
const requests = Number(option("--requests", "300"));
const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/devflow/target");
const binary = option("--bin", join(target, "release/devflow"));
const codeServerDir = process.env.DEVFLOW_CODE_SERVER_DIR ?? join(homedir(), ".cache/devflow/code-server");
const token = "bench-editor-token-0123456789abcdef";
const work = tempDir("devflow-bench-editor-");

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const ms = (value) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

async function startDaemon() {
  const child = spawn(binary, ["serve", "--port", "0", "--state-dir", join(work, "state"), "--token", token], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DEVFLOW_CODE_SERVER_DIR: codeServerDir, DEVFLOW_PROPOSER: "builtin", DEVFLOW_LOG: "warn" },
  });
  child.stderr.resume();
  const base = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /devflow listening on (http:\/\/[^/\s]+)\//.exec(out);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`devflow exited with ${code}`)));
  });
  return { child, base };
}

async function api(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await response.json();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${JSON.stringify(value)}`);
  return value;
}

async function openSession(base, name) {
  const site = copySite("simple-sidebar", join(work, name));
  const { sessionId } = await api(base, "POST", "/sessions", { source: { kind: "dir", path: site } });
  await api(base, "POST", `/sessions/${sessionId}/start`);
  for (let i = 0; i < 100; i++) {
    const session = await api(base, "GET", `/sessions/${sessionId}`);
    if (session.status === "RUNNING") return { sessionId, site };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the session did not start");
}

async function workbenchVisible(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const began = performance.now();
  await page.goto(url);
  await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
  await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({ timeout: 120_000 });
  return { took: performance.now() - began, context, page };
}

async function metric(base, name, sessionId) {
  const text = await (await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{session_id="${sessionId}"} `));
  return line ? Number(line.split(" ").at(-1)) : null;
}

/** The loopback port of the session's code-server, from its command line. */
function directPort(sessionId) {
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    let cmdline;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!cmdline.some((a) => a.includes(`/editors/${sessionId}/`))) continue;
    const i = cmdline.indexOf("--bind-addr");
    if (i >= 0) return Number(cmdline[i + 1].split(":")[1]);
  }
  throw new Error("no code-server for the session");
}

function get(agent, url, headers) {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    http
      .get(url, { agent, headers }, (response) => {
        let bytes = 0;
        response.on("data", (chunk) => (bytes += chunk.length));
        response.on("end", () => {
          if (response.statusCode !== 200) reject(new Error(`${url} → ${response.statusCode}`));
          else resolve({ took: performance.now() - began, bytes });
        });
      })
      .on("error", reject);
  });
}

const { child, base } = await startDaemon();
const browser = await launchBrowser();
const rows = [];
try {
  // 1. Cold: a new session each run; stopped afterwards so every run starts code-server.
  const cold = [];
  const starts = [];
  for (let i = 0; i < runs; i++) {
    const { sessionId } = await openSession(base, `cold-${i}`);
    const began = performance.now();
    const { editorUrl } = await api(base, "GET", `/sessions/${sessionId}/editor`);
    const { context } = await workbenchVisible(browser, editorUrl);
    cold.push(performance.now() - began);
    starts.push((await metric(base, "devflow_editor_last_start_seconds", sessionId)) * 1000);
    await context.close();
    await api(base, "POST", `/sessions/${sessionId}/stop`);
  }

  // 2. One session kept: RSS idle, then with the workbench and the panel open.
  const { sessionId, site } = await openSession(base, "kept");
  const { editorUrl } = await api(base, "GET", `/sessions/${sessionId}/editor`);
  let idleRss = null;
  for (let i = 0; i < 300 && idleRss === null; i++) {
    idleRss = await metric(base, "devflow_editor_rss_bytes", sessionId);
    if (idleRss === null) await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 2000));
  idleRss = await metric(base, "devflow_editor_rss_bytes", sessionId);
  const opened = await workbenchVisible(browser, editorUrl);
  const page = opened.page;
  await page.keyboard.press("Control+Shift+P");
  await page.locator(".quick-input-widget input").fill(">devflow: Open Preview");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Open Preview" }).first().waitFor();
  await page.keyboard.press("Enter");
  const panel = page.frameLocator("iframe.webview").frameLocator("iframe#active-frame");
  await panel.locator("#connection[data-state=open]").waitFor({ timeout: 60_000 });
  await panel.frameLocator("#preview").locator("h1").first().waitFor({ timeout: 60_000 });
  await new Promise((r) => setTimeout(r, 3000));
  const panelRss = await metric(base, "devflow_editor_rss_bytes", sessionId);
  const cookies = await opened.context.cookies(`${base}/editor/${sessionId}/`);
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  await opened.context.close();

  // 3. Proxy vs direct, alternating. Warm workbench in the browser first.
  const port = directPort(sessionId);
  const direct = `http://127.0.0.1:${port}`;
  const proxied = `${base}/editor/${sessionId}`;
  const warm = { proxy: [], direct: [] };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ["proxy", "direct"] : ["direct", "proxy"];
    for (const which of order) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      if (which === "proxy") await context.addCookies(cookies);
      const page = await context.newPage();
      const began = performance.now();
      await page.goto(which === "proxy" ? `${proxied}/` : `${direct}/?folder=${encodeURIComponent(site)}`);
      await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
      await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({ timeout: 120_000 });
      warm[which].push(performance.now() - began);
      await context.close();
    }
  }
  // A large static asset: the workbench's main script, named in its page.
  const html = await (await fetch(`${direct}/?folder=${encodeURIComponent(site)}`)).text();
  const script = /src="\.?\/?(stable-[^"]+workbench\.js)"/.exec(html)?.[1] ?? /(stable-[^"']+\/workbench\.js)/.exec(html)?.[1];
  if (!script) throw new Error("no workbench.js in the page");
  const agents = { proxy: new http.Agent({ keepAlive: true, maxSockets: 1 }), direct: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
  const small = { proxy: [], direct: [] };
  const large = { proxy: [], direct: [] };
  let largeBytes = 0;
  for (let i = 0; i < requests + 20; i++) {
    const order = i % 2 === 0 ? ["proxy", "direct"] : ["direct", "proxy"];
    for (const which of order) {
      const root = which === "proxy" ? proxied : direct;
      const headers = which === "proxy" ? { cookie } : {};
      const { took } = await get(agents[which], `${root}/healthz`, headers);
      if (i >= 20) small[which].push(took);
      if (i % 10 === 0 && i >= 20) {
        const big = await get(agents[which], `${root}/${script}`, headers);
        large[which].push(big.took);
        largeBytes = big.bytes;
      }
    }
  }

  const p50 = (values) => percentile(values, 50);
  rows.push(["editorUrl → workbench visible, cold (new session; code-server start + extension install)", `p50 ${ms(p50(cold))} (min ${ms(Math.min(...cold))}, max ${ms(Math.max(...cold))}, n=${runs})`]);
  rows.push(["… of which code-server start → /healthz (incl. .vsix install)", `p50 ${ms(p50(starts))}`]);
  rows.push(["workbench visible, warm (code-server running): via the daemon / direct", `p50 ${ms(p50(warm.proxy))} / ${ms(p50(warm.direct))} = **${(p50(warm.proxy) / p50(warm.direct)).toFixed(2)}×** (n=${runs} each)`]);
  rows.push(["code-server RSS, idle (no browser yet)", mib(idleRss)]);
  rows.push(["code-server RSS, workbench + devflow panel open", mib(panelRss)]);
  rows.push([`small request (/healthz) round trip, keep-alive: via the daemon / direct`, `p50 ${ms(p50(small.proxy))} / ${ms(p50(small.direct))} = **${(p50(small.proxy) / p50(small.direct)).toFixed(2)}×**; p99 ${ms(percentile(small.proxy, 99))} / ${ms(percentile(small.direct, 99))} (n=${requests} each)`]);
  rows.push([`workbench.js (${mib(largeBytes)}): via the daemon / direct`, `p50 ${ms(p50(large.proxy))} / ${ms(p50(large.direct))} = **${(p50(large.proxy) / p50(large.direct)).toFixed(2)}×** (n=${large.proxy.length} each)`]);
  await api(base, "POST", `/sessions/${sessionId}/stop`);
} finally {
  await browser.close();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  rmSync(work, { recursive: true, force: true });
}
console.log(`date: ${new Date().toISOString()}  load: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
console.log("| measure | result |\n|---|---|");
for (const [what, result] of rows) console.log(`| ${what} | ${result} |`);
