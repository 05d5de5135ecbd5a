// The standalone proxy's scheduling (BENCHMARKS.md §3), side by side in one run: the upstream
// of ../shared/bench served directly, through `devflow proxy --scheduling normal`, through
// `devflow proxy` (its default, SCHED_BATCH) and, when installed, through nginx + sub_filter.
// Rounds are interleaved (the order reversed every other round); each round is autocannon
// (10 connections, the benchmark's browser headers) for --duration seconds per target.
// Besides req/s it reads, from /proc, what each request cost: CPU time of the proxy, of the
// upstream and of the load generator, and how often the proxy and the upstream went to sleep
// (voluntary context switches), which is what the scheduling policy changes. Every process is
// started in a session of its own, as the shared harness does and as separate terminals are,
// so the kernel's autogroups put each in a scheduling group of its own.
// Usage: node bench/proxy_scheduling.mjs [--rounds 6] [--duration 4] [--bin PATH]
//        [--bench-dir ../shared/bench] [--load node]   (`--load node`: node's http client as
//        the load generator, the shared harness's latency probe, instead of autocannon)

import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(option("--rounds", "6"));
const duration = Number(option("--duration", "4"));
const loadKind = option("--load", "autocannon");
const benchDir = resolve(option("--bench-dir", join(here, "../../shared/bench")));
const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/devflow/target");
const binary = option("--bin", join(target, "release/devflow"));
if (!existsSync(join(benchDir, "node_modules/autocannon"))) {
  console.error(`proxy_priority: no autocannon in ${benchDir}/node_modules (run its setup.sh, or give --bench-dir)`);
  process.exit(3);
}
const requireBench = createRequire(join(benchDir, "package.json"));
const autocannon = requireBench("autocannon");
const common = requireBench("./lib/common.js");

// Below the ephemeral range, so no outgoing connection can hold one of them.
const UPSTREAM_PORT = 20800;
const FIRST_PROXY_PORT = 20810;
const HEADERS = {
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "accept-encoding": "gzip, deflate, br",
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) proxy-bench/0.1",
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
const start = (command, argv) => {
  const child = spawn(command, argv, { stdio: "ignore", detached: true });
  children.push(child);
  return child;
};
const stop = () => children.forEach((child) => child.kill("SIGTERM"));
process.on("exit", stop);

/** utime + stime of a process, in clock ticks (100 per second). */
const cpuTicks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
};
const sleeps = (pid) =>
  Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function nginx(port) {
  const dir = join(tmpdir(), `devflow-bench-nginx-${port}`);
  mkdirSync(dir, { recursive: true });
  // The shared harness's nginx: one worker, keep-alive upstream, no buffering, sub_filter.
  writeFileSync(join(dir, "nginx.conf"), `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream up { server 127.0.0.1:${UPSTREAM_PORT}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Accept-Encoding ""; proxy_buffering off;
      sub_filter_once on; sub_filter '</body>' '<script src="/__reload/client.js"></script></body>';
    }
  }
}
`);
  return start("nginx", ["-c", join(dir, "nginx.conf")]);
}

function load(url) {
  if (loadKind === "node") {
    return common
      .latencyProbe(url, { connections: 10, maxMs: duration * 1000, headers: HEADERS })
      .then((probe) => ({ requests: probe.requests, rps: probe.rps, failed: probe.errors }));
  }
  return new Promise((resolve, reject) =>
    autocannon({ url, connections: 10, duration, headers: HEADERS }, (error, result) =>
      error
        ? reject(error)
        : resolve({ requests: result.requests.total, rps: result.requests.average, failed: result.errors + result.non2xx }),
    ),
  );
}

const upstream = start("node", [join(benchDir, "upstream.js"), "--port", String(UPSTREAM_PORT)]);
const targets = [{ name: "direct", port: UPSTREAM_PORT }];
const candidates = [
  ["devflow --scheduling normal", ["--scheduling", "normal"]],
  ["devflow (default)", []],
];
let port = FIRST_PROXY_PORT;
for (const [name, extra] of candidates) {
  const child = start(binary, ["proxy", "--upstream", `http://127.0.0.1:${UPSTREAM_PORT}`, "--port", String(port), ...extra]);
  targets.push({ name, port: port++, pid: child.pid });
}
let hasNginx = true;
try {
  execFileSync("nginx", ["-v"], { stdio: "ignore" });
} catch {
  hasNginx = false;
}
if (hasNginx) {
  const child = nginx(port);
  targets.push({ name: "nginx sub_filter", port: port++, pid: child.pid });
}
await sleep(1500);
for (const t of targets) {
  t.url = `http://127.0.0.1:${t.port}/`;
  const page = await common.fetchRaw(t.url, { headers: HEADERS });
  if (page.status !== 200) throw new Error(`${t.name}: status ${page.status}`);
  await load(t.url); // warm-up
  t.samples = [];
}

const la = () => readFileSync("/proc/loadavg", "utf8").split(" ")[0];
const loadBefore = la();
for (let round = 0; round < rounds; round++) {
  for (const t of round % 2 ? [...targets].reverse() : targets) {
    const before = {
      proxy: t.pid ? cpuTicks(t.pid) : 0, upstream: cpuTicks(upstream.pid), loadgen: process.cpuUsage(),
      proxySleeps: t.pid ? sleeps(t.pid) : 0, upstreamSleeps: sleeps(upstream.pid),
    };
    const result = await load(t.url);
    const n = result.requests;
    const loadgen = process.cpuUsage(before.loadgen);
    t.samples.push({
      rps: result.rps,
      failed: result.failed,
      // milliseconds of CPU per 1000 requests = microseconds per request
      proxyCpu: t.pid ? ((cpuTicks(t.pid) - before.proxy) * 10_000) / n : 0,
      upstreamCpu: ((cpuTicks(upstream.pid) - before.upstream) * 10_000) / n,
      loadgenCpu: (loadgen.user + loadgen.system) / n,
      proxySleeps: t.pid ? (sleeps(t.pid) - before.proxySleeps) / n : 0,
      upstreamSleeps: (sleeps(upstream.pid) - before.upstreamSleeps) / n,
    });
  }
}
stop();

const direct = targets[0].samples;
console.log(`date: ${new Date().toISOString()}  load generator: ${loadKind}  rounds: ${rounds} × ${duration} s  load average ${loadBefore} → ${la()}`);
console.log("");
console.log("| target | req/s (median) | / direct | per round | CPU µs/request: proxy · upstream · load generator | sleeps/request: proxy · upstream | failed |");
console.log("|---|---:|---:|---|---|---|---:|");
for (const t of targets) {
  const s = t.samples;
  const rps = median(s.map((x) => x.rps));
  const perRound = s.map((x, i) => (x.rps / direct[i].rps).toFixed(2)).join(" ");
  const cpu = ["proxyCpu", "upstreamCpu", "loadgenCpu"].map((k) => median(s.map((x) => x[k])).toFixed(1)).join(" · ");
  const sl = ["proxySleeps", "upstreamSleeps"].map((k) => median(s.map((x) => x[k])).toFixed(2)).join(" · ");
  console.log(`| ${t.name} | ${rps.toFixed(0)} | ${(rps / median(direct.map((x) => x.rps))).toFixed(3)} | ${perRound} | ${cpu} | ${sl} | ${s.reduce((a, x) => a + x.failed, 0)} |`);
}
process.exit(0);
