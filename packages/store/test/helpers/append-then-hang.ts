/**
 * Child process for the kill -9 test: appends events to a SQLite file, prints "acked" once
 * every append has resolved, then hangs until the parent kills it.
 * argv: <path> <synchronous FULL|NORMAL>
 */
import { createSqliteStore } from "../../src/drivers/sqlite";

const [path, synchronous] = process.argv.slice(2) as [string, "FULL" | "NORMAL"];
const store = createSqliteStore({ path, synchronous });
const now = Date.now();
// 20 concurrent calls: they go through group commit, and each must be durable when it resolves.
await Promise.all(
  Array.from({ length: 20 }, (_, k) =>
    store.append(
      Array.from({ length: 50 }, (_, i) => ({
        internal_id: `01K${String(k * 50 + i).padStart(10, "0")}`,
        id: null,
        name: "kill/test",
        data: { k, i },
        user: null,
        ts: now,
        v: null,
        env: "production",
        received_at: now,
        source: null,
        source_id: null,
      })),
    ),
  ),
);
process.stdout.write("acked\n");
setInterval(() => {}, 1_000);
