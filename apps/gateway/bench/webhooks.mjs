// Verified and transformed webhook requests per second against plain /e/ requests, on one
// gateway in the same run: a Clerk-shaped user.created, signed (Standard Webhooks / svix),
// POSTed to /w/<id> (signature check over the raw bytes, CEL transform for name and data,
// then the Event API's send), and the event /e/ would have received for it.
// Neither carries an event id, so both skip the dedup claim and measure the same store path.
// Usage: node bench/webhooks.mjs [seconds per round, default 8]   (build first: starts dist/cli.js)
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const SECONDS = Number(process.argv[2] ?? 8);
const CONNECTIONS = 20;
const EVENT_KEY = "bench-event-key";
const ID = "bench_d2ViaG9va3MtYmVuY2gtaWQtMTI4Yml0cw";
const SECRET = `whsec_${Buffer.from("bench-signing-key-of-32-bytes!!!").toString("base64")}`;

const payload = {
  data: {
    id: "user_29w83sxmDNGwOuEthce5gg56FcC",
    email_addresses: [
      { email_address: "example@example.org", id: "idn_29w83yL7CwVlJXylYLxcslromF1" },
    ],
    first_name: "Example",
    last_name: "Example",
    created_at: 1654012591514,
  },
  object: "event",
  type: "user.created",
  timestamp: 1654012591835,
};
const webhookBody = JSON.stringify(payload);
const eventBody = JSON.stringify({ name: "clerk/user.created", data: payload.data });

function svixHeaders(body) {
  const id = "msg_bench";
  const ts = String(Math.floor(Date.now() / 1000));
  const key = Buffer.from(SECRET.slice(6), "base64");
  const sig = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": ts,
    "svix-signature": `v1,${sig}`,
  };
}

function start(file) {
  const args = [
    "start",
    "--port",
    "0",
    "--dedup",
    "memory",
    "--store",
    "memory",
    "--event-key",
    EVENT_KEY,
  ];
  args.push("--api-key", "bench-api-key", "--log-level", "error", "--webhooks", file);
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
  });
}

function run(url, headers, body) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method: "POST", headers, body, connections: CONNECTIONS, duration: SECONDS },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

const dir = mkdtempSync(join(tmpdir(), "evt-bench-webhooks-"));
const file = join(dir, "webhooks.json");
writeFileSync(
  file,
  JSON.stringify([
    {
      id: ID,
      name: "clerk",
      transform: { name: "'clerk/' + body.type", data: "body.data" },
      verify: { scheme: "svix", secret: SECRET },
    },
  ]),
);
const gw = await start(file);
try {
  const rows = [];
  for (let round = 1; round <= 2; round++) {
    const e = await run(
      `${gw.url}/e/${EVENT_KEY}`,
      { "content-type": "application/json" },
      eventBody,
    );
    const w = await run(`${gw.url}/w/${ID}`, svixHeaders(webhookBody), webhookBody);
    for (const [what, r] of [
      ["/e/ (plain event)", e],
      ["/w/ (svix verify + CEL transform)", w],
    ]) {
      const bad = r.non2xx + r.errors;
      rows.push({
        round,
        what,
        "req/s": Math.round(r.requests.average),
        "p50 ms": r.latency.p50,
        "p99 ms": r.latency.p99,
        "non-2xx or errors": bad,
      });
    }
  }
  console.log(
    `node ${process.version}, ${CONNECTIONS} connections, ${SECONDS} s per run, memory stores`,
  );
  console.table(rows);
  const avg = (what) =>
    rows.filter((r) => r.what.startsWith(what)).reduce((s, r) => s + r["req/s"], 0) / 2;
  console.log(`webhook / plain: ${((avg("/w/") / avg("/e/")) * 100).toFixed(0)} %`);
} finally {
  gw.proc.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
