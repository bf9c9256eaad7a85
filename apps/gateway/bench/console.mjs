// Console benchmark: how long the console's first view takes with many stored events.
// Usage: node bench/console.mjs (after building the gateway; needs Debian's chromium, or
// EVT_CHROMIUM). Env: EVENTS (default 10000), ROUNDS (5).
// Starts `node dist/cli.js dev` on a temp data dir, stores EVENTS events (requests of 500),
// then opens the page ROUNDS times in headless Chromium (a new page each time, nothing
// cached) and measures navigation start -> the first event row drawn, and -> every run badge
// of the first page drawn. Prints the figures and writes bench/results/console-<date>.json.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const EVENTS = Number(process.env.EVENTS ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CHROMIUM = process.env.EVT_CHROMIUM ?? "/usr/bin/chromium";

const dir = mkdtempSync(join(tmpdir(), "evt-bench-console-"));
const gw = spawn(
  process.execPath,
  [CLI, "dev", "--port", "0", "--data-dir", dir, "--log-level", "warn"],
  {
    stdio: ["ignore", "pipe", "inherit"],
  },
);
const url = await new Promise((resolve, reject) => {
  let out = "";
  gw.stdout.on("data", (c) => {
    out += c.toString();
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
  gw.on("exit", () => reject(new Error(`the gateway exited\n${out}`)));
});

try {
  for (let sent = 0; sent < EVENTS; sent += 500) {
    const batch = Array.from({ length: Math.min(500, EVENTS - sent) }, (_, i) => ({
      name: `bench/console.${(sent + i) % 20}`,
      data: { i: sent + i, user: { id: `u${(sent + i) % 97}`, plan: "pro" } },
    }));
    const res = await fetch(`${url}/e/bench`, { method: "POST", body: JSON.stringify(batch) });
    if (res.status !== 200) throw new Error(`sending events: ${res.status} ${await res.text()}`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const firstRow = [];
  const allRuns = [];
  for (let r = 0; r < ROUNDS; r++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(`${url}/`, { waitUntil: "commit" });
    await page.locator("tr[data-event]").first().waitFor();
    firstRow.push(performance.now() - t0);
    // Every row's runs were read (none here: no functions): the last of 50 run reads done.
    await page.locator("main[data-settled]").waitFor({ state: "attached" });
    allRuns.push(performance.now() - t0);
    await context.close();
  }
  await browser.close();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const result = {
    at: new Date().toISOString(),
    events: EVENTS,
    rounds: ROUNDS,
    first_row_ms: { median: Math.round(median(firstRow)), all: firstRow.map(Math.round) },
    settled_ms: { median: Math.round(median(allRuns)), all: allRuns.map(Math.round) },
    machine: {
      cpus: cpus().length,
      load: loadavg().map((l) => l.toFixed(2)),
      node: process.version,
    },
  };
  console.log(
    `console first view with ${EVENTS} events: first row ${result.first_row_ms.median} ms (median of ${ROUNDS}), page settled (50 rows and their runs read) ${result.settled_ms.median} ms; load ${result.machine.load.join(" ")}`,
  );
  const out = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, `console-${result.at.slice(0, 10)}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
} finally {
  gw.kill("SIGTERM");
  await new Promise((r) => gw.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
