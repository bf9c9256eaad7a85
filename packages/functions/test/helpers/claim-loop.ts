/**
 * Child process of the two-process claim race: opens the run store at <path>, prints "ready",
 * waits for a line on stdin, then claims due runs (a few at a time) until none is left, and
 * prints the claimed run ids as one JSON line.
 * argv: <path> <owner> <now>
 */
import { createSqliteRunStore } from "../../src/drivers/sqlite";

const [path, owner, now] = process.argv.slice(2) as [string, string, string];
const store = createSqliteRunStore({ path, timeoutMs: 10_000 });
await store.nextDueAt(); // open the file before the race starts
process.stdout.write("ready\n");
process.stdin.once("data", async () => {
  const ids: string[] = [];
  for (;;) {
    const runs = await store.claimDue(Number(now), owner, 60_000, 3);
    if (runs.length === 0) break;
    for (const run of runs) ids.push(run.runId);
  }
  process.stdout.write(`${JSON.stringify(ids)}\n`);
  await store.close();
  process.exit(0);
});
