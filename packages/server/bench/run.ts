/**
 * Event API throughput: `sh scripts/pnpm.sh --filter @evt/server bench` (or
 * `node --import tsx bench/run.ts` in packages/server). Starts each server in a child process
 * and drives it over keep-alive connections from this one with a minimal HTTP/1.1 client
 * (pre-built request bytes, one request in flight per connection).
 * Env: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 32).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const here = fileURLToPath(new URL(".", import.meta.url));

async function startServer(mode: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", `${here}server.ts`, mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { url, child };
}

function requestBytes(url: string, body: string): Buffer {
  const u = new URL(url);
  return Buffer.from(
    `POST /e/bench-key HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Drive one connection until `deadline`; counts complete responses and non-200 answers. */
function drive(
  url: string,
  makeRequest: () => Buffer,
  deadline: number,
  stats: { ok: number; bad: number },
) {
  const u = new URL(url);
  return new Promise<void>((resolve, reject) => {
    const socket: Socket = connect(Number(u.port), u.hostname);
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    const send = () => {
      if (Date.now() >= deadline) {
        socket.end();
        resolve();
        return;
      }
      socket.write(makeRequest());
    };
    socket.on("connect", send);
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const headEnd = buf.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const head = buf.subarray(0, headEnd).toString("latin1");
        const m = /content-length: (\d+)/i.exec(head);
        const total = headEnd + 4 + Number(m?.[1] ?? 0);
        if (buf.length < total) return;
        if (head.startsWith("HTTP/1.1 200")) stats.ok++;
        else stats.bad++;
        buf = buf.subarray(total);
        send();
      }
    });
  });
}

async function scenario(name: string, mode: string, eventsPerRequest: number, unique: boolean) {
  const { url, child } = await startServer(mode);
  try {
    let n = 0;
    const event = () => ({ name: "bench.event", data: { userId: "u-123", plan: "pro", n: n++ } });
    const makeBody = () =>
      eventsPerRequest === 1
        ? JSON.stringify(event())
        : JSON.stringify(Array.from({ length: eventsPerRequest }, event));
    const fixed = requestBytes(url, makeBody());
    const makeRequest = unique ? () => requestBytes(url, makeBody()) : () => fixed;
    // Warm up (JIT, SQLite page cache).
    await Promise.all(
      Array.from({ length: CONNECTIONS }, () =>
        drive(url, makeRequest, Date.now() + 1000, { ok: 0, bad: 0 }),
      ),
    );
    const stats = { ok: 0, bad: 0 };
    const start = performance.now();
    const deadline = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, () => drive(url, makeRequest, deadline, stats)),
    );
    const secs = (performance.now() - start) / 1000;
    const rps = stats.ok / secs;
    console.log(
      `${name.padEnd(46)} ${Math.round(rps).toLocaleString("en").padStart(9)} req/s ` +
        `${Math.round(rps * eventsPerRequest)
          .toLocaleString("en")
          .padStart(10)} events/s` +
        (stats.bad > 0 ? `  (${stats.bad} non-200!)` : ""),
    );
    return rps;
  } finally {
    child.kill();
  }
}

console.log(`node ${process.version}, ${CONNECTIONS} connections, ${SECONDS}s per scenario\n`);
const echo = await scenario("bare node:http JSON echo, 1 event/request", "echo", 1, false);
const mem1 = await scenario("Event API, memory stores, 1 event/request", "memory", 1, false);
await scenario("Event API, SQLite (FULL), 1 event/request", "sqlite", 1, false);
await scenario("Event API, memory stores, 100 events/request", "memory", 100, false);
await scenario("Event API, SQLite (FULL), 100 events/request", "sqlite", 100, false);
await scenario("Event API, SQLite (NORMAL), 100 events/request", "sqlite-normal", 100, false);
console.log(`\nEvent API (memory) / bare echo, 1 event/request: ${(mem1 / echo).toFixed(2)}x`);
