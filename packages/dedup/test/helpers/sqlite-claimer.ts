// Child process of sqlite.test.ts: claims keys on a shared SQLite file and prints the outcome.
// argv: <file> <table> <worker> <count>. Output: one JSON line { fresh: string of 0/1, values }.
import { createSqliteStore } from "../../src/sqlite.js";

const [file, table, worker, count] = process.argv.slice(2) as [string, string, string, string];
const store = createSqliteStore({ path: file, table, timeoutMs: 60_000 });
const n = Number(count);
const keys = Array.from({ length: n }, (_, i) => `k${i}`);
if (Number(worker) % 2 === 1) keys.reverse();
await store.ping();
// wait for the go signal so all processes claim at the same moment
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
const results = await store.claim(
  keys.map((key) => ({ key, value: `w${worker}` })),
  86_400_000,
);
const byKey: Record<string, string> = {};
results.forEach((r, i) => {
  byKey[keys[i]!] = r.fresh ? "" : r.value;
});
process.stdout.write(`${JSON.stringify(byKey)}\n`);
await store.close();
