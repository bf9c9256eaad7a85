import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type RunningGateway, startGatewayProcess, stopProcess, tempDir } from "./helpers";

const EVENT_KEY = "large-reads-event-key";
const API_KEY = "large-reads-api-key";
const EVENTS = 300;
const EVENT_BYTES = 200 * 1024;
const READERS = 5;
const GB = 1024 * 1024 * 1024;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** One request on a fresh connection; the body is read whole. */
function call(url: string, method = "GET", body?: string, headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { method, headers, agent: false, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          ms: performance.now() - start,
        }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/** Peak resident memory of a process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmHWM:\s+(\d+) kB/.exec(status);
  return Number(kb?.[1] ?? Number.NaN) * 1024;
}

/**
 * Polls `/health` every 50 ms from a separate process (so the readers' JSON parsing in this
 * process cannot delay it) until stopped; resolves with each answer's status and latency.
 */
function pollHealth(url: string): { stop(): Promise<{ status: number; ms: number }[]> } {
  const script = `
    const http = require("node:http");
    const out = [];
    let on = true;
    process.stdin.on("data", () => { on = false; });
    const once = () => new Promise((resolve) => {
      const start = performance.now();
      const req = http.get(${JSON.stringify(`${url}/health`)}, { agent: false, timeout: 30000 }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - start }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve({ status: 0, ms: performance.now() - start }));
    });
    (async () => {
      while (on) { out.push(await once()); await new Promise((r) => setTimeout(r, 50)); }
      process.stdout.write(JSON.stringify(out), () => process.exit(0));
    })();
  `;
  const proc = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  let text = "";
  proc.stdout!.on("data", (c: Buffer) => {
    text += c.toString();
  });
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  return {
    async stop() {
      proc.stdin!.end("stop");
      await exited;
      return JSON.parse(text) as { status: number; ms: number }[];
    },
  };
}

/** A reader that walks every page of `limit=1000`, waiting `Retry-After` on 429. */
async function readAll(url: string): Promise<{ ids: string[]; pages: number; busy: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  let busy = 0;
  for (;;) {
    const q: string = cursor === null ? "" : `&cursor=${cursor}`;
    const res = await call(`${url}/v1/events?limit=1000${q}`, "GET", undefined, {
      authorization: `Bearer ${API_KEY}`,
    });
    if (res.status === 429) {
      busy++;
      expect(res.headers["retry-after"]).toBe("1");
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    expect(res.status).toBe(200);
    const page = JSON.parse(res.body) as { data: { internal_id: string }[]; cursor: string | null };
    for (const e of page.data) ids.push(e.internal_id);
    cursor = page.cursor;
    pages++;
    if (cursor === null) break;
  }
  return { ids, pages, busy };
}

describe("large reads (built binary)", () => {
  it(`${READERS} parallel limit=1000 reads over ${EVENTS} events of 200 KB stay under 1.5 GB RSS while /health and ingest answer`, {
    timeout: 180_000,
  }, async () => {
    let gw: RunningGateway | undefined;
    try {
      gw = await startGatewayProcess([
        "start",
        "--port",
        "0",
        "--dedup",
        "memory",
        "--data-dir",
        join(tempDir("evt-gw-reads-"), "data"),
        "--event-key",
        EVENT_KEY,
        "--api-key",
        API_KEY,
        "--log-level",
        "warn",
      ]);
      const url = gw.url;
      const pid = gw.proc.pid!;
      const blob = "r".repeat(EVENT_BYTES);
      // 300 events of 200 KB in the SQLite store, two per request, four requests at a time.
      for (let i = 0; i < EVENTS; i += 8) {
        await Promise.all(
          [0, 2, 4, 6]
            .filter((k) => i + k < EVENTS)
            .map(async (k) => {
              const batch = [0, 1].map((j) => ({ name: "load/big", data: { n: i + k + j, blob } }));
              const res = await call(`${url}/e/${EVENT_KEY}`, "POST", JSON.stringify(batch), {
                "content-type": "application/json",
              });
              expect(res.status).toBe(200);
            }),
        );
      }
      const rssBefore = peakRss(pid);

      let reading = true;
      const ingests: number[] = [];
      const poller = pollHealth(url);
      const ingest = (async () => {
        for (let n = 0; reading; n++) {
          const res = await call(
            `${url}/e/${EVENT_KEY}`,
            "POST",
            JSON.stringify({ name: "load/small", data: { n } }),
            { "content-type": "application/json" },
          );
          ingests.push(res.status);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const started = performance.now();
      const readers = await Promise.all(Array.from({ length: READERS }, () => readAll(url)));
      const elapsed = performance.now() - started;
      reading = false;
      const [health] = await Promise.all([poller.stop(), ingest]);

      const peak = peakRss(pid);
      const worstHealth = Math.max(...health.map((h) => h.ms));
      console.log(
        `large reads: ${READERS} readers x ${EVENTS} events of ${EVENT_BYTES / 1024} KB in ${(elapsed / 1000).toFixed(1)} s; ` +
          `pages per reader ${readers.map((r) => r.pages).join("/")}, 429s ${readers.reduce((n, r) => n + r.busy, 0)}; ` +
          `peak RSS ${(rssBefore / 1024 / 1024).toFixed(0)} MB after ingest, ${(peak / 1024 / 1024).toFixed(0)} MB after reads; ` +
          `/health ${health.length} answers, worst ${worstHealth.toFixed(0)} ms; ingest during reads ${ingests.length} requests`,
      );

      for (const r of readers) {
        // Each reader saw every large event once (and maybe some of the small ones sent meanwhile).
        expect(new Set(r.ids).size).toBe(r.ids.length);
        expect(r.ids.length).toBeGreaterThanOrEqual(EVENTS);
      }
      expect(peak).toBeLessThan(1.5 * GB);
      expect(health.length).toBeGreaterThan(0);
      expect(health.every((h) => h.status === 200)).toBe(true);
      expect(ingests.length).toBeGreaterThan(0);
      expect(ingests.every((s) => s === 200)).toBe(true);
      expect(gw.proc.exitCode).toBeNull();
    } finally {
      await stopProcess(gw);
    }
  });
});
