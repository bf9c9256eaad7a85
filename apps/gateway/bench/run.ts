/**
 * evt-gateway throughput benchmark: `sh scripts/pnpm.sh --filter @evt/gateway run bench`
 * (build first: `sh scripts/pnpm.sh exec turbo run build --filter=@evt/gateway...`).
 *
 * Runs autocannon (as a library, in this process) against a freshly spawned gateway from
 * dist/ per case, and against a bare node:http baseline in the same run. Writes
 * bench/results.json and the table in bench/README.md. Set EVT_BENCH_SECONDS to change the
 * length of each case (default 6). Set EVT_BENCH_CASES to a comma-separated list of words
 * (e.g. `sqlite`) to run only the gateway cases whose dedup or store contains one of them,
 * plus the baselines; such a partial run prints its table and leaves README.md and
 * results.json alone. The README's text from the line `<!-- kept -->` on is kept across runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import {
  CLI,
  dropTestData,
  POSTGRES_URL,
  REDIS_URL,
  startGatewayProcess,
  stopProcess,
  tempDir,
  uniqueSuffix,
} from "../test/helpers";

const SECONDS = Number(process.env.EVT_BENCH_SECONDS ?? 6);
const ONLY = process.env.EVT_BENCH_CASES?.split(",")
  .map((w) => w.trim())
  .filter(Boolean);
const RUN = uniqueSuffix();
const REDIS_PREFIX = `evt:bench:${RUN}:`;
const TABLE_PREFIX = `bench_${RUN}_`.toLowerCase();
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

interface Case {
  name: string;
  target: "baseline" | "gateway";
  dedup?: string;
  store?: string;
  eventsPerRequest: number;
  connections: number;
  /** Extra gateway flags, e.g. `--sqlite-thread false`. */
  args?: string[];
  /** Every event's `id` a random UUID (scattered dedup keys) instead of `<tag>-<counter>`. */
  randomIds?: boolean;
}

interface CaseResult extends Case {
  reqPerSec: number;
  eventsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  peakRssMb: number;
  /** CPU time (user + system, all threads) of the server process per event acknowledged. */
  cpuUsPerEvent: number;
  /** The same for the server's main (HTTP) thread alone. */
  mainCpuUsPerEvent: number;
  ratioToBaseline?: number;
}

const CASES: Case[] = [
  { name: "baseline, 1 event/request", target: "baseline", eventsPerRequest: 1, connections: 64 },
  {
    name: "baseline, 100 events/request",
    target: "baseline",
    eventsPerRequest: 100,
    connections: 32,
  },
  {
    name: "sqlite dedup + sqlite store, 1 event/request",
    target: "gateway",
    dedup: "sqlite",
    store: "sqlite",
    eventsPerRequest: 1,
    connections: 64,
    args: ["--sqlite-thread", "true"],
  },
  {
    name: "sqlite dedup + sqlite store, 100 events/request",
    target: "gateway",
    dedup: "sqlite",
    store: "sqlite",
    eventsPerRequest: 100,
    connections: 32,
    args: ["--sqlite-thread", "true"],
  },
  {
    name: "sqlite dedup + sqlite store, 100 events/request, random ids",
    target: "gateway",
    dedup: "sqlite",
    store: "sqlite",
    eventsPerRequest: 100,
    connections: 32,
    randomIds: true,
    args: ["--sqlite-thread", "true"],
  },
  {
    name: "sqlite on the main thread, 1 event/request",
    target: "gateway",
    dedup: "sqlite",
    store: "sqlite",
    eventsPerRequest: 1,
    connections: 64,
    args: ["--sqlite-thread", "false"],
  },
  {
    name: "sqlite on the main thread, 100 events/request",
    target: "gateway",
    dedup: "sqlite",
    store: "sqlite",
    eventsPerRequest: 100,
    connections: 32,
    args: ["--sqlite-thread", "false"],
  },
  {
    name: "sqlite on the main thread, 100 events/request, random ids",
    target: "gateway",
    dedup: "sqlite",
    store: "sqlite",
    eventsPerRequest: 100,
    connections: 32,
    args: ["--sqlite-thread", "false"],
    randomIds: true,
  },
  {
    name: "memory dedup + memory store, 1 event/request",
    target: "gateway",
    dedup: "memory",
    store: "memory",
    eventsPerRequest: 1,
    connections: 64,
  },
  {
    name: "memory dedup + memory store, 100 events/request",
    target: "gateway",
    dedup: "memory",
    store: "memory",
    eventsPerRequest: 100,
    connections: 32,
  },
  {
    name: "redis dedup + postgres store, 1 event/request",
    target: "gateway",
    dedup: REDIS_URL,
    store: POSTGRES_URL,
    eventsPerRequest: 1,
    connections: 64,
  },
  {
    name: "redis dedup + postgres store, 100 events/request",
    target: "gateway",
    dedup: REDIS_URL,
    store: POSTGRES_URL,
    eventsPerRequest: 100,
    connections: 32,
  },
];

/** A body with fresh dedup ids on every request, so no request is short-circuited as a duplicate. */
function bodyMaker(eventsPerRequest: number, tag: string, randomIds: boolean) {
  let n = 0;
  return () => {
    const parts: string[] = [];
    for (let i = 0; i < eventsPerRequest; i++) {
      n++;
      const id = randomIds ? randomUUID() : `${tag}-${n}`;
      parts.push(`{"name":"bench/event","id":"${id}","data":{"n":${n},"plan":"pro"}}`);
    }
    return `[${parts.join(",")}]`;
  };
}

function startBaseline(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [here("./baseline.mjs")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once("exit", (code) => reject(new Error(`baseline exited with ${code}`)));
  });
}

/**
 * CPU seconds (user + system) a process has used so far: every thread, or with `mainOnly` its
 * main thread (the one whose id is the process id).
 */
function cpuSeconds(pid: number | undefined, mainOnly = false): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    const path = mainOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
    const stat = readFileSync(path, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Peak resident set size of a process (VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

async function cannon(
  url: string,
  c: Case,
  seconds: number,
  tag: string,
): Promise<autocannon.Result> {
  const makeBody = bodyMaker(c.eventsPerRequest, tag, c.randomIds === true);
  return autocannon({
    url: `${url}/e/bench-key`,
    connections: c.connections,
    duration: seconds,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: makeBody() }),
      },
    ],
  });
}

async function runCase(c: Case, index: number): Promise<CaseResult> {
  let url: string;
  let proc: ChildProcess;
  let stop: () => Promise<void>;
  if (c.target === "baseline") {
    const b = await startBaseline();
    url = b.url;
    proc = b.proc;
    stop = async () => {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    };
  } else {
    const gw = await startGatewayProcess(
      [
        "start",
        "--port",
        "0",
        "--data-dir",
        tempDir("evt-bench-"),
        "--log-level",
        "warn",
        ...(c.args ?? []),
      ],
      {
        EVT_EVENT_KEYS: "bench-key",
        EVT_API_KEYS: "bench-read-key",
        EVT_DEDUP: c.dedup!,
        EVT_STORE: c.store!,
        EVT_REDIS_PREFIX: REDIS_PREFIX,
        EVT_PG_TABLE_PREFIX: TABLE_PREFIX,
      },
    );
    url = gw.url;
    proc = gw.proc;
    stop = () => stopProcess(gw, "SIGTERM");
  }
  try {
    await cannon(url, c, 1, `warm-${RUN}-${index}`);
    const cpuBefore = cpuSeconds(proc.pid);
    const mainBefore = cpuSeconds(proc.pid, true);
    const r = await cannon(url, c, SECONDS, `run-${RUN}-${index}`);
    const cpu = cpuSeconds(proc.pid) - cpuBefore;
    const mainCpu = cpuSeconds(proc.pid, true) - mainBefore;
    const reqPerSec = r["2xx"] / r.duration;
    const events = r["2xx"] * c.eventsPerRequest;
    return {
      ...c,
      reqPerSec: Math.round(reqPerSec),
      eventsPerSec: Math.round(reqPerSec * c.eventsPerRequest),
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      peakRssMb: peakRssMb(proc.pid),
      cpuUsPerEvent: events > 0 ? Math.round((cpu * 1e7) / events) / 10 : 0,
      mainCpuUsPerEvent: events > 0 ? Math.round((mainCpu * 1e7) / events) / 10 : 0,
    };
  } finally {
    await stop();
  }
}

function table(results: CaseResult[]): string {
  const rows = results.map((r) => {
    const stores = (r.dedup ?? "").startsWith("redis")
      ? "redis + postgres"
      : r.dedup
        ? `${r.dedup} + ${r.store}`
        : "-";
    const notes = [
      r.dedup === "sqlite" || r.store === "sqlite"
        ? r.args?.includes("false")
          ? "main thread"
          : "worker threads"
        : "",
      r.randomIds ? "random ids" : "",
    ].filter(Boolean);
    const shown = notes.length > 0 ? `${stores} (${notes.join(", ")})` : stores;
    return `| ${r.target} | ${shown} | ${r.eventsPerRequest} | ${r.connections} | ${r.reqPerSec.toLocaleString("en-US")} | ${r.eventsPerSec.toLocaleString("en-US")} | ${r.p50Ms} | ${r.p99Ms} | ${r.cpuUsPerEvent} | ${r.mainCpuUsPerEvent} | ${r.peakRssMb} | ${r.ratioToBaseline === undefined ? "-" : `${r.ratioToBaseline.toFixed(2)}x`} | ${r.non2xx + r.errors} |`;
  });
  return [
    "| target | dedup + store | events/req | connections | req/s | events/s | p50 ms | p99 ms | server CPU µs/event | main thread µs/event | peak RSS MB | vs baseline req/s | non-2xx + errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

function targets(results: CaseResult[]): string[] {
  const isDefault = (r: CaseResult) => r.dedup === "sqlite" && !r.args && !r.randomIds;
  const sqlite1 = results.find((r) => isDefault(r) && r.eventsPerRequest === 1);
  const sqlite100 = results.find((r) => isDefault(r) && r.eventsPerRequest === 100);
  return [
    sqlite1
      ? `- one event per request (SQLite): ${sqlite1.ratioToBaseline?.toFixed(2)}x the baseline's req/s (target >= 0.6x) ${(sqlite1.ratioToBaseline ?? 0) >= 0.6 ? "met" : "MISSED"}; p99 ${sqlite1.p99Ms} ms (target <= 10 ms) ${sqlite1.p99Ms <= 10 ? "met" : "MISSED"}`
      : "",
    sqlite100
      ? `- 100 events per request (SQLite store): ${sqlite100.eventsPerSec.toLocaleString("en-US")} events/s (target >= 150,000) ${sqlite100.eventsPerSec >= 150_000 ? "met" : "MISSED"}`
      : "",
  ].filter(Boolean);
}

/** The README's hand-written part: from the line `<!-- kept -->` to the end. */
function keptSection(): string {
  try {
    const old = readFileSync(here("./README.md"), "utf8");
    const at = old.indexOf("<!-- kept -->");
    return at < 0 ? "" : `\n${old.slice(at)}`;
  } catch {
    return "";
  }
}

async function main(): Promise<void> {
  if (!CLI) throw new Error("dist/cli.js not found");
  const results: CaseResult[] = [];
  const selected = CASES.filter(
    (c) =>
      !ONLY?.length ||
      c.target === "baseline" ||
      ONLY.some((w) => c.dedup?.includes(w) || c.store?.includes(w)),
  );
  try {
    for (const [i, c] of selected.entries()) {
      process.stdout.write(`${c.name} ... `);
      const r = await runCase(c, i);
      const base = results.find(
        (b) => b.target === "baseline" && b.eventsPerRequest === c.eventsPerRequest,
      );
      if (c.target === "gateway" && base) r.ratioToBaseline = r.reqPerSec / base.reqPerSec;
      results.push(r);
      process.stdout.write(
        `${r.reqPerSec} req/s, ${r.eventsPerSec} events/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.cpuUsPerEvent} µs CPU/event (main thread ${r.mainCpuUsPerEvent}), RSS ${r.peakRssMb} MB${r.ratioToBaseline ? `, ${r.ratioToBaseline.toFixed(2)}x baseline` : ""}\n`,
      );
    }
  } finally {
    await dropTestData(REDIS_PREFIX, TABLE_PREFIX).catch(() => {});
  }

  if (ONLY?.length) {
    process.stdout.write(`\n${table(results)}\n\n${targets(results).join("\n")}\n`);
    return;
  }
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}`;
  const date = new Date().toISOString();
  writeFileSync(
    here("./results.json"),
    `${JSON.stringify({ date, machine, secondsPerCase: SECONDS, results }, null, 2)}\n`,
  );
  const kept = keptSection();
  const readme = `# evt-gateway benchmark

Command (from the repository root, after \`sh scripts/pnpm.sh exec turbo run build --filter=@evt/gateway...\`):

\`\`\`sh
sh scripts/pnpm.sh --filter @evt/gateway run bench
\`\`\`

Each case spawns a fresh \`node dist/cli.js start\` (log level warn) and runs autocannon as a
library in the bench process for ${SECONDS} s after a 1 s warm-up. Every event carries a fresh
dedup \`id\`, so dedup and store do real work on every request: \`<tag>-<counter>\` (dedup keys
arrive nearly sorted), or a random UUID in the cases marked "random ids" (scattered keys, as
with user-chosen idempotency keys). SQLite cases run in worker threads
(\`--sqlite-thread true\`, what \`auto\` picks on 2 cores) unless marked "main thread". The baseline is a bare
node:http server (\`bench/baseline.mjs\`) that reads the body, \`JSON.parse\`s it and answers a
fixed \`{ids,status}\` body. Peak RSS is the gateway's \`VmHWM\`. "Server CPU µs/event" is the
server process's user + system time (all its threads) during the measured seconds divided by
the events acknowledged: unlike req/s it does not depend on how the 2 cores are shared with
the load generator; "main thread" is the same for the thread that serves HTTP (the rest is
SQLite worker threads, the garbage collector's helpers and libuv). Raw figures: \`results.json\`.

Last run: ${date}, ${machine}.

${table(results)}

Targets:
${targets(results).join("\n")}

autocannon, the gateway (and PostgreSQL/Redis in their cases) share the same 2 cores, so
every figure is a floor for a gateway with its own machine.
${kept}`;
  writeFileSync(here("./README.md"), readme);
  process.stdout.write(`\n${table(results)}\n\n${targets(results).join("\n")}\n`);
}

await main();
