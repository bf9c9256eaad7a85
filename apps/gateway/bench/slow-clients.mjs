// A real client's ingest latency while hostile clients without a key hold connections:
// 600 slow uploads (headers and one byte of body) and one connection pipelining 200 requests.
// Usage: node bench/slow-clients.mjs   (build first: the built dist/cli.js is started)
import { spawn } from "node:child_process";
import { request } from "node:http";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const KEY = "bench-slow-key";

function start() {
  const proc = spawn(
    process.execPath,
    [
      CLI,
      "start",
      "--port",
      "0",
      "--dedup",
      "memory",
      "--store",
      "memory",
      "--event-key",
      KEY,
      "--public-reads",
      "--log-level",
      "error",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
  });
}

function ingest(url, i) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(
      `${url}/e/${KEY}`,
      { method: "POST", agent: false, headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ ms: performance.now() - t, status: res.statusCode }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ name: "bench/real", data: { i } }));
  });
}

async function measure(url, label) {
  const ms = [];
  let failures = 0;
  for (let i = 0; i < 300; i++) {
    const r = await ingest(url, i).catch(() => ({ ms: 0, status: 0 }));
    if (r.status !== 200) failures++;
    else ms.push(r.ms);
  }
  ms.sort((a, b) => a - b);
  const q = (p) =>
    (ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? Number.NaN).toFixed(1);
  console.log(
    `${label}: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms, failures ${failures}/300`,
  );
}

const { proc, url } = await start();
const port = Number(new URL(url).port);
await measure(url, "quiet");
const sockets = [];
for (let i = 0; i < 600; i++) {
  const s = connect(port, "127.0.0.1");
  s.on("error", () => {});
  s.write(
    `POST /e/nope-${i} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`,
  );
  sockets.push(s);
}
const p = connect(port, "127.0.0.1");
p.on("error", () => {});
p.write(
  "POST /e/nope HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}".repeat(
    200,
  ),
);
await new Promise((r) => setTimeout(r, 300));
await measure(url, "600 slow keyless uploads + 200 pipelined");
for (const s of sockets) s.destroy();
p.destroy();
proc.kill("SIGTERM");
