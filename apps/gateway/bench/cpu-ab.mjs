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
//         `:^--flag=value` passes a node flag, e.g. `^--max-semi-space-size=32`.
// Env: PIN_SERVER (default 1), PIN_LOAD (0): the CPUs given to `taskset -c`; RATE: a fixed
//   request rate instead of as fast as it answers; NODE_FLAGS: extra node flags for the
//   gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
// Example: node bench/cpu-ab.mjs sqlite1 4 5 before=/tmp/old-checkout after=../.. base=baseline
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === "--load") {
  // The load generator child: autocannon, then one JSON line of results.
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
  const flags = extra.filter((e) => !e.startsWith("+") && !e.startsWith("^") && e !== "@memory");
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
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s,)]+)/.exec(out);
      if (m) ok({ proc, url: m[1], dataDir });
    });
    proc.once("exit", (code) => fail(new Error(`${spec} exited with ${code}: ${out}`)));
  });
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
    const { proc, url, dataDir } = await startServer(v.slice(at + 1));
    const tag = `${name}-${round}-${randomUUID().slice(0, 8)}`;
    try {
      await load(url, 1, `warm-${tag}`);
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
        cpuUsPerEvent: round1(((cpuSeconds(proc.pid, false) - cpu) * 1e6) / events),
        mainUsPerEvent: round1(((cpuSeconds(proc.pid, true) - main) * 1e6) / events),
        bad: r.bad,
        load1: round1(load1),
      };
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
  console.log(
    `median ${caseName} ${name}: server CPU ${m("cpuUsPerEvent")} µs/event (main thread ${m("mainUsPerEvent")}), ${m("reqPerSec")} req/s, ${m("eventsPerSec")} events/s, p99 ${m("p99Ms")} ms, load ${rs.map((r) => r.load1).join("/")}`,
  );
}
