// The E2E harness: a real `devflow serve` on a temp state dir, a copy of a fixture site, a
// small REST client, and Debian's chromium through playwright-core.

import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, chmodSync, readdirSync, statSync, existsSync, utimesSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { crc32 } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const fixtures = process.env.DEVFLOW_FIXTURES ?? resolve(repo, "../shared/fixtures");

export function devflowBinary() {
  const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/devflow/target");
  const binary = join(target, "debug/devflow");
  if (!existsSync(binary)) throw new Error(`no devflow binary at ${binary}: run cargo build first`);
  return binary;
}

export function chromiumPath() {
  const path = process.env.DEVFLOW_CHROME ?? "/usr/bin/chromium";
  if (!existsSync(path)) throw new Error(`no chromium at ${path}: apt-get install -y chromium`);
  return path;
}

/**
 * A writable copy of a fixture site (the shared folder is read-only). Its files are dated
 * a year back, as a user's files are: a server that sends Last-Modified without
 * Cache-Control then lets the browser cache them for days, which the panel must not show.
 */
export function copySite(name, into) {
  const dest = join(into, name);
  cpSync(join(fixtures, "sites", name), dest, { recursive: true });
  const old = new Date(Date.now() - 365 * 24 * 3600 * 1000);
  const prepare = (path) => {
    const directory = statSync(path).isDirectory();
    chmodSync(path, directory ? 0o755 : 0o644);
    if (directory) for (const child of readdirSync(path)) prepare(join(path, child));
    utimesSync(path, old, old);
  };
  prepare(dest);
  return dest;
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function artifactsDir() {
  const dir = process.env.DEVFLOW_E2E_ARTIFACTS ?? join(tmpdir(), "devflow-e2e-artifacts");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Every child the tests start, ended with the test process even when it is interrupted. */
const children = new Set();
export function track(child, group = false) {
  children.add({ child, group });
}
process.once("exit", () => {
  for (const { child, group } of children) {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(group ? -child.pid : child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(130));

/** `devflow serve`, started and ready; `stop()` kills it (SIGKILL for a crash). */
export class Daemon {
  /** `env`: extra environment for the daemon (e.g. `DEVFLOW_EDITOR_GRANT_TTL`). */
  constructor({ stateDir, token, port = 0, env = {} }) {
    this.stateDir = stateDir;
    this.token = token;
    this.port = port;
    this.env = env;
    this.child = null;
    this.stderr = "";
  }

  async start() {
    const child = spawn(
      devflowBinary(),
      ["serve", "--port", String(this.port), "--state-dir", this.stateDir, "--token", this.token],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info", ...this.env } },
    );
    this.child = child;
    track(child);
    child.stderr.on("data", (chunk) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
    const url = await new Promise((resolveUrl, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`devflow did not start in 20 s:\n${this.stderr}`)), 20_000);
      child.stdout.on("data", (chunk) => {
        out += chunk.toString();
        const match = /devflow listening on (http:\/\/[^/\s]+)\//.exec(out);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`devflow exited with ${code} before listening:\n${this.stderr}`));
      });
    });
    this.baseUrl = url;
    this.port = Number(new URL(url).port);
    return this;
  }

  /** Ends the daemon; `signal` SIGKILL simulates a crash. */
  async stop(signal = "SIGTERM") {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill(signal);
    await exited;
    this.child = null;
  }

  async api(method, path, body) {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const value = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
    return value;
  }

  /** A running session on a folder, with its preview up. */
  async openFolder(path) {
    const created = await this.api("POST", "/sessions", { source: { kind: "dir", path } });
    await this.api("POST", `/sessions/${created.sessionId}/start`);
    for (let i = 0; i < 100; i++) {
      const session = await this.api("GET", `/sessions/${created.sessionId}`);
      if (session.status === "RUNNING" && session.previewUrl) return session;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the session did not reach RUNNING");
  }

  panelUrl(sessionId) {
    return `${this.baseUrl}/?token=${encodeURIComponent(this.token)}&session=${encodeURIComponent(sessionId)}`;
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      // The fixture links a CDN script; fail such lookups at once instead of waiting.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ],
  });
}

/** A zip of stored (uncompressed) entries: [name, bytes][]. */
export function storedZip(entries) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const fileName = Buffer.from(name);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt32LE(crc32(data), 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(fileName.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    header.copy(entry, 8, 6, 26); // flags … sizes, as in the local header
    entry.writeUInt16LE(fileName.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(header, fileName, data);
    central.push(entry, fileName);
    offset += header.length + fileName.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
