/**
 * The server side of the benchmark, run in its own process so the load generator does not
 * share its event loop: `node --import tsx bench/server.ts <echo|memory|sqlite>`.
 * Prints the base URL on stdout once listening.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryStore, createSqliteStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { listen } from "@evt/server/node";
import { createMemoryEventStore, createSqliteEventStore } from "@evt/store";

const mode = process.argv[2] ?? "memory";
// Exit normally on SIGTERM so `--cpu-prof` can write its profile.
process.on("SIGTERM", () => process.exit(0));

if (mode === "echo") {
  // Baseline: a bare node:http JSON echo (read body, parse, answer JSON).
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const body = JSON.stringify({ ids: [Array.isArray(value) ? value.length : 1], status: 200 });
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), "evt-server-bench-"));
  const sqlite = mode === "sqlite" || mode === "sqlite-normal";
  const dedup = sqlite ? createSqliteStore({ path: join(dir, "dedup.db") }) : createMemoryStore();
  const store = sqlite
    ? createSqliteEventStore({
        path: join(dir, "events.db"),
        synchronous: mode === "sqlite-normal" ? "NORMAL" : "FULL",
      })
    : createMemoryEventStore();
  const api = createEventApi({ dedup, store, eventKeys: ["bench-key"] });
  const { url } = await listen(api, { port: 0 });
  console.log(url);
}
