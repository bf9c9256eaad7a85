// CPU per event, A/B: the gateway builds (or flags) named on the command line, in alternating
// rounds, with the server pinned to one CPU and the load generator (autocannon, a child
// process) to another, so that what other processes run on the machine changes the figures of
// every variant alike. Reports each round and the medians: server CPU µs per event (user +
// system of every thread, from /proc), of its main thread alone, req/s, p99, load average.
//
// Usage (from apps/gateway, after building):
//   node bench/cpu-ab.mjs <case> <rounds> <seconds> <name>=<variant> ...
//   case: mem1 | mem100 | sqlite1 | sqlite100 (stores, events per request; 64 connections for
//         1 event per request, 32 for 100)
//   variant: baseline (bench/baseline.mjs), or a checkout's root whose apps/gateway/dist/cli.js
//         runs, then `:`-separated gateway flags, e.g. `../..:--sqlite-thread:false`;
//         `:@memory` switches that variant to the memory stores, `:+NAME` sets env NAME=1,
//         `:^--flag=value` passes a node flag, e.g. `^--max-semi-space-size=32`;
//         `:#N` or `:#N/M` starts that gateway with a signing key and an app (bench/fn-app.mjs,
//         a bare endpoint in this process, which is then pinned to PIN_LOAD too) that
//         registers N functions, M of them (default 0) triggered by the bench's `bench/event`:
//         each event then starts M one-call runs. `:#0` is the same gateway and app with none.
//         With M > 0 the row also has the app's calls per event in the measured seconds, and
//         the server CPU per event once those events' runs have all called (waiting up to
//         DRAIN_SECONDS, default 120), measured from the same start.
// Env: PIN_SERVER (default 1), PIN_LOAD (0): the CPUs given to `taskset -c`; RATE: a fixed
//   request rate instead of as fast as it answers; PACED=1 (with RATE): a request every
//   1/RATE s, latencies from each one's slot, instead of autocannon's bursts; NODE_FLAGS: extra node flags for the
//   gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
// Example: node bench/cpu-ab.mjs sqlite1 4 5 before=/tmp/old-checkout after=../.. base=baseline
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { benchFunctions, startFnApp, waitForFunctions } from "./fn-app.mjs";

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === "--load") {
  // The load generator child: autocannon (or the paced sender), then one JSON line of results.
  const { default: autocannon } = await import("autocannon");
  const [url, connections, seconds, per, tag] = process.argv.slice(3);
  let n = 0;
  const perRequest = Number(per);
  const body = () => {
    const parts = [];
    for (let i = 0; i < perRequest; i++) {
      n++;
      parts.push(`{"name":"bench/event","id":"${tag}-${n}","data":{"n":${n},"plan":"pro"}}`);
    }
    return `[${parts.join(",")}]`;
  };
  if (process.env.PACED === "1" && process.env.RATE) {
    const out = await paced(
      url,
      Number(connections),
      Number(seconds),
      Number(process.env.RATE),
      body,
    );
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  }
  const r = await autocannon({
    url: `${url}/e/bench-key`,
    connections: Number(connections),
    duration: Number(seconds),
    ...(process.env.RATE ? { overallRate: Number(process.env.RATE) } : {}),
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: body() }),
      },
    ],
  });
  const out = { ok: r["2xx"], bad: r.non2xx + r.errors, duration: r.duration, p99: r.latency.p99 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

/**
 * PACED=1 with RATE: requests sent on a fixed schedule (RATE per second, a slot every 1/RATE
 * s) over at most `connections` keep-alive sockets, each latency measured from its slot, so a
 * request that waited for a free socket counts its wait (autocannon's rate limit sends each
 * second's requests in a burst, which puts its own queueing into p99).
 */
async function paced(url, connections, seconds, rate, body) {
  // undici's pool: about a third of node:http's client CPU per request, which left node:http
  // itself the bottleneck on one core at 5,600 req/s (p99 in the hundreds of ms for the baseline).
  const { Pool } = await import("undici");
  const pool = new Pool(url, { connections, pipelining: 1 });
  const latencies = [];
  let ok = 0;
  let bad = 0;
  let sent = 0;
  const headers = { "content-type": "application/json" };
  // One unmeasured second first: a fresh process sending on a schedule falls behind while it
  // compiles, and every request after that would count the backlog.
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) {
    const batch = [];
    for (let i = 0; i < Math.ceil(rate / 100); i++)
      batch.push(
        pool.request({ path: "/e/bench-key", method: "POST", headers, body: body() }).then(
          (res) => res.body.dump(),
          () => {},
        ),
      );
    await Promise.all(batch);
    await new Promise((r) => setTimeout(r, 10));
  }
  const start = performance.now();
  const total = Math.floor(rate * seconds);
  await new Promise((done) => {
    let open = 0;
    const finish = (slot, good) => {
      if (good) ok++;
      else bad++;
      latencies.push(performance.now() - slot);
      if (--open === 0 && sent === total) done();
    };
    const send = (slot) => {
      open++;
      pool.request({ path: "/e/bench-key", method: "POST", headers, body: body() }).then(
        (res) => res.body.dump().then(() => finish(slot, res.statusCode === 200)),
        () => finish(slot, false),
      );
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / rate <= now)
        send(start + (sent++ * 1000) / rate);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  latencies.sort((a, b) => a - b);
  const at = (q) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) /
    10;
  await pool.close();
  return { ok, bad, duration: (performance.now() - start) / 1000, p99: at(0.99), p50: at(0.5) };
}

const CASES = {
  mem1: { stores: "memory", per: 1, connections: 64 },
  mem100: { stores: "memory", per: 100, connections: 32 },
  sqlite1: { stores: "sqlite", per: 1, connections: 64 },
  sqlite100: { stores: "sqlite", per: 100, connections: 32 },
};
const args = process.argv.slice(2);
if (args[0] === "--") args.shift(); // `pnpm run bench:cpu -- ...`
const [caseName, roundsText, secondsText, ...variants] = args;
const kase = CASES[caseName];
if (!kase || !(Number(roundsText) > 0) || !(Number(secondsText) > 0) || variants.length === 0) {
  console.error(
    `usage: node bench/cpu-ab.mjs <${Object.keys(CASES).join("|")}> <rounds> <seconds> <name>=<baseline|checkout[:flags]> ...`,
  );
  process.exit(2);
}
const PIN_SERVER = process.env.PIN_SERVER ?? "1";
const PIN_LOAD = process.env.PIN_LOAD ?? "0";
const NODE_FLAGS = (process.env.NODE_FLAGS ?? "").split(" ").filter(Boolean);
const DRAIN_SECONDS = Number(process.env.DRAIN_SECONDS ?? 120);
const SIGNING_KEY = `signkey-bench-${"5e".repeat(32)}`;

/** `#N` or `#N/M` of a variant's flags: N functions registered, M of them matching. */
function functionsOf(extra) {
  const spec = extra.find((e) => e.startsWith("#"));
  if (spec === undefined) return null;
  const m = /^#(\d+)(?:\/(\d+))?$/.exec(spec);
  if (!m || Number(m[2] ?? 0) > Number(m[1])) {
    console.error(`${spec}: expected #N or #N/M (N functions, M <= N of them matching)`);
    process.exit(2);
  }
  return { count: Number(m[1]), matching: Number(m[2] ?? 0) };
}
const needsApp = variants.some((v) =>
  functionsOf(
    v
      .slice(v.indexOf("=") + 1)
      .split(":")
      .slice(1),
  ),
);
/** The app's endpoint runs in this process: off the server's CPU, with the load generator. */
const app = needsApp ? await startFnApp() : null;
if (app) execFileSync("taskset", ["-a", "-cp", PIN_LOAD, String(process.pid)], { stdio: "ignore" });

/** CPU seconds (user + system) of a process (every thread) or of its main thread. */
function cpuSeconds(pid, mainOnly) {
  try {
    const stat = readFileSync(
      mainOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`,
      "utf8",
    );
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function startServer(spec) {
  const [where, ...extra] = spec.split(":");
  const env = { ...process.env, EVT_EVENT_KEYS: "bench-key", EVT_API_KEYS: "bench-read-key" };
  env.EVT_DEDUP = env.EVT_STORE = extra.includes("@memory") ? "memory" : kase.stores;
  for (const e of extra) if (e.startsWith("+")) env[e.slice(1)] = "1";
  const nodeFlags = extra.filter((e) => e.startsWith("^")).map((e) => e.slice(1));
  const functions = functionsOf(extra);
  const flags = extra.filter(
    (e) => !e.startsWith("+") && !e.startsWith("^") && !e.startsWith("#") && e !== "@memory",
  );
  let gatewayUrl = () => {};
  if (functions) {
    app.gateway = new Promise((r) => {
      gatewayUrl = r;
    });
    flags.push("--signing-key", SIGNING_KEY, "--app-url", app.serveUrl);
    app.functions = benchFunctions(
      functions.count,
      functions.matching,
      "bench/event",
      app.serveUrl,
    );
    app.signingKey = SIGNING_KEY;
  }
  const dataDir = mkdtempSync(join(tmpdir(), "evt-cpu-ab-"));
  const command =
    where === "baseline"
      ? [fileURLToPath(new URL("./baseline.mjs", import.meta.url))]
      : [...NODE_FLAGS, ...nodeFlags, resolve(where, "apps/gateway/dist/cli.js"), "start"].concat([
          "--data-dir",
          dataDir,
          "--log-level",
          "warn",
          // Any free port: another gateway (a test, a bench) may hold the default 8288.
          "--port",
          "0",
          ...flags,
        ]);
  const proc = spawn("taskset", ["-c", PIN_SERVER, process.execPath, ...command], {
    stdio: ["ignore", "pipe", "inherit"],
    env,
  });
  return new Promise((ok, fail) => {
    let out = "";
    let listening = false;
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s,)]+)/.exec(out);
      if (m && !listening) {
        listening = true;
        if (!functions) return ok({ proc, url: m[1], dataDir, functions });
        gatewayUrl(m[1]);
        const synced = app.syncs;
        waitForSync(m[1], synced, functions.count).then(
          () => ok({ proc, url: m[1], dataDir, functions }),
          fail,
        );
      }
    });
    proc.once("exit", (code) => fail(new Error(`${spec} exited with ${code}: ${out}`)));
  });
}

/** Resolves once the app synced again (after `syncs`) and the gateway lists `n` functions. */
async function waitForSync(url, syncs, n) {
  const until = Date.now() + 30_000;
  while (app.syncs === syncs) {
    if (Date.now() > until) throw new Error("the gateway did not sync the app within 30 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitForFunctions(url, n, "bench-read-key");
}

/** Resolves once the app has had `calls` calls, or after `seconds` without reaching it. */
async function callsReach(calls, seconds) {
  const until = Date.now() + seconds * 1000;
  while (app.calls < calls && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

function load(url, seconds, tag) {
  return new Promise((ok, fail) => {
    const child = spawn(
      "taskset",
      ["-c", PIN_LOAD, process.execPath, self, "--load", url, String(kase.connections)].concat([
        String(seconds),
        String(kase.per),
        tag,
      ]),
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.once("exit", () => {
      try {
        ok(JSON.parse(out));
      } catch (e) {
        fail(e);
      }
    });
  });
}

const round1 = (x) => Math.round(x * 10) / 10;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = new Map();
for (let round = 0; round < Number(roundsText); round++) {
  for (const v of variants) {
    const at = v.indexOf("=");
    const name = v.slice(0, at);
    const { proc, url, dataDir, functions } = await startServer(v.slice(at + 1));
    const tag = `${name}-${round}-${randomUUID().slice(0, 8)}`;
    const matching = functions?.matching ?? 0;
    try {
      const calls0 = app?.calls ?? 0;
      const warm = await load(url, 1, `warm-${tag}`);
      // The warm-up's runs first, so that the measured seconds start with none pending.
      if (matching > 0) await callsReach(calls0 + warm.ok * kase.per * matching, DRAIN_SECONDS);
      const calls = app?.calls ?? 0;
      const cpu = cpuSeconds(proc.pid, false);
      const main = cpuSeconds(proc.pid, true);
      const load1 = loadavg()[0];
      const r = await load(url, Number(secondsText), tag);
      const events = r.ok * kase.per;
      const row = {
        name,
        round,
        reqPerSec: Math.round(r.ok / r.duration),
        eventsPerSec: Math.round(events / r.duration),
        p99Ms: r.p99,
        ...(r.p50 !== undefined ? { p50Ms: r.p50 } : {}),
        cpuUsPerEvent: round1(((cpuSeconds(proc.pid, false) - cpu) * 1e6) / events),
        mainUsPerEvent: round1(((cpuSeconds(proc.pid, true) - main) * 1e6) / events),
        bad: r.bad,
        load1: round1(load1),
      };
      if (matching > 0) {
        row.callsPerEvent = round1((app.calls - calls) / events);
        const t = performance.now();
        await callsReach(calls + events * matching, DRAIN_SECONDS);
        row.drainSeconds = round1((performance.now() - t) / 1000);
        row.drainedCallsPerEvent = round1((app.calls - calls) / events);
        row.drainedCpuUsPerEvent = round1(((cpuSeconds(proc.pid, false) - cpu) * 1e6) / events);
      }
      console.log(JSON.stringify(row));
      if (!rows.has(name)) rows.set(name, []);
      rows.get(name).push(row);
    } finally {
      proc.kill("SIGTERM");
      if (proc.exitCode === null) await new Promise((r) => proc.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
for (const [name, rs] of rows) {
  const m = (k) => median(rs.map((r) => r[k]));
  const runs =
    rs[0].callsPerEvent === undefined
      ? ""
      : `; runs: ${m("callsPerEvent")} calls/event in the measured seconds, ${m("drainedCpuUsPerEvent")} µs/event with all ${m("drainedCallsPerEvent")} (drain ${m("drainSeconds")} s)`;
  console.log(
    `median ${caseName} ${name}: server CPU ${m("cpuUsPerEvent")} µs/event (main thread ${m("mainUsPerEvent")}), ${m("reqPerSec")} req/s, ${m("eventsPerSec")} events/s, p99 ${m("p99Ms")} ms, load ${rs.map((r) => r.load1).join("/")}${runs}`,
  );
}
app?.close();
