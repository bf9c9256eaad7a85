import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DedupError } from "@evt/dedup";
import { runDedupConformance } from "@evt/dedup/testing";
import { type StoredEvent, StoreError } from "@evt/store";
import { runStoreConformance } from "@evt/store/testing";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteThread } from "../src/sqlite-thread";

const dir = mkdtempSync(join(tmpdir(), "evt-sqlite-thread-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The stand-ins must behave exactly like the drivers they forward to: both conformance suites
// run against them, each handle with its own worker thread on the shared file.
runDedupConformance("sqlite in a worker thread", async () => {
  const { dedup } = openSqliteThread({ dedupPath: join(dir, "dedup.db"), storePath: null });
  return dedup!;
});

runStoreConformance(
  "sqlite in a worker thread",
  async () => {
    const { store } = openSqliteThread({ dedupPath: null, storePath: join(dir, "events.db") });
    return store!;
  },
  { persistent: true, keyOrder: true, nulCharacter: true },
);

function event(n: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    internal_id: `01W${String(n).padStart(10, "0")}`,
    id: null,
    name: "t/e",
    data: { n },
    user: null,
    ts: 1_750_000_000_000 + n,
    v: null,
    env: "production",
    received_at: 1_750_000_000_000 + n,
    source: null,
    source_id: null,
    ...over,
  };
}

describe("openSqliteThread", () => {
  it("serves both stores from one worker and answers in call order", async () => {
    const t = openSqliteThread({
      dedupPath: join(dir, "both-dedup.db"),
      storePath: join(dir, "both-events.db"),
    });
    const dedup = t.dedup!;
    const store = t.store!;
    const [claims, , again] = await Promise.all([
      dedup.claim(
        [
          { key: "a", value: "v1" },
          { key: "a", value: "v2" },
        ],
        60_000,
      ),
      store.append([event(1), event(2)]),
      dedup.claim([{ key: "a", value: "v3" }], 60_000),
    ]);
    expect(claims).toEqual([{ fresh: true }, { fresh: false, value: "v1" }]);
    expect(again).toEqual([{ fresh: false, value: "v1" }]);
    expect(await store.has([event(1).internal_id, "missing"], "production")).toEqual(
      new Set([event(1).internal_id]),
    );
    expect((await store.get(event(2).internal_id, "production"))?.data).toEqual({ n: 2 });
    await Promise.all([dedup.close(), store.close()]);
  });

  it("keeps the class, code and retryable of an error thrown in the worker", async () => {
    const { store, dedup } = openSqliteThread({
      dedupPath: join(dir, "errors-dedup.db"),
      storePath: join(dir, "errors-events.db"),
    });
    const bad = await store!.append([event(1, { name: "" as string, ts: Number.NaN })]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(bad).toBeInstanceOf(StoreError);
    expect(bad).toMatchObject({ code: "invalid_input", retryable: false, driver: "sqlite" });
    expect((bad as Error).message).toMatch(/^\[evt\/store\] \[sqlite\] append: events\[0\]\./);

    const badClaim = await dedup!.claim([{ key: "", value: "v" }], 1000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(badClaim).toBeInstanceOf(DedupError);
    expect(badClaim).toMatchObject({ code: "invalid_argument", retryable: false });
    await Promise.all([dedup!.close(), store!.close()]);
  });

  it("fails only the call whose arguments cannot be copied to the worker", async () => {
    const { store } = openSqliteThread({ dedupPath: null, storePath: join(dir, "clone.db") });
    const [good, bad] = await Promise.allSettled([
      store!.append([event(1)]),
      store!.append([event(2, { data: { f: () => 1 } as unknown as Record<string, unknown> })]),
    ]);
    expect(good.status).toBe("fulfilled");
    expect(bad.status).toBe("rejected");
    const reason = (bad as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(StoreError);
    expect(reason).toMatchObject({ code: "invalid_input", retryable: false });
    expect(await store!.has([event(1).internal_id, event(2).internal_id], "production")).toEqual(
      new Set([event(1).internal_id]),
    );
    await store!.close();
  });

  it("rejects calls in flight with a retryable error when the worker dies, then starts a new one", async () => {
    const t = openSqliteThread({ dedupPath: null, storePath: join(dir, "crash.db") });
    const store = t.store!;
    await store.append([event(1)]);
    const many = Array.from({ length: 20_000 }, (_, i) => event(10 + i));
    const inFlight = store.append(many).then(
      () => null,
      (e: unknown) => e,
    );
    // Let the call reach the worker, then stop the worker as a crash would.
    await new Promise((resolve) => setImmediate(resolve));
    await t.terminate();
    const error = await inFlight;
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: "unavailable", retryable: true });
    expect((error as Error).message).toMatch(/worker thread stopped .* retry the call/);

    // The next call starts a new worker on the same file; what was committed is there.
    await store.append([event(2)]);
    const present = await store.has([event(1).internal_id, event(2).internal_id], "production");
    expect(present).toEqual(new Set([event(1).internal_id, event(2).internal_id]));
    await store.close();
  });

  it("rejects calls after close with a closed error and lets the process exit", async () => {
    const { store, dedup } = openSqliteThread({
      dedupPath: join(dir, "closed-dedup.db"),
      storePath: join(dir, "closed-events.db"),
    });
    await store!.close();
    await store!.close();
    await expect(store!.append([event(1)])).rejects.toMatchObject({ code: "closed" });
    // The dedup store of the same worker still works until it is closed too.
    expect(await dedup!.claim([{ key: "k", value: "v" }], 1000)).toEqual([{ fresh: true }]);
    await dedup!.close();
    await expect(dedup!.claim([{ key: "k", value: "v" }], 1000)).rejects.toBeInstanceOf(DedupError);
  });

  it("rejects a call the worker does not answer within callTimeoutMs (retryable), and recovers", async () => {
    const path = join(dir, "locked-events.db");
    const { store } = openSqliteThread({ dedupPath: null, storePath: path, callTimeoutMs: 300 });
    await store!.append([event(1)]);
    // Another process takes the write lock: the worker's append now waits in SQLite's busy
    // handler (2 s), which stands for a hung fsync.
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const error = await store!.append([event(2)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: "unavailable", retryable: true });
    expect((error as Error).message).toMatch(/did not answer append within 300 ms.*retry the call/);
    other.exec("ROLLBACK");
    other.close();
    // The worker is still there and answers once the lock is gone. It first finishes the
    // append that waited for the lock, so under load the next call may pass 300 ms too: retry
    // it, as the error says to (a worker that stays stuck fails every try).
    let recovered = false;
    for (let i = 0; i < 10 && !recovered; i++) {
      recovered = await store!.append([event(3)]).then(
        () => true,
        (e: unknown) => {
          expect(e).toMatchObject({ code: "unavailable", retryable: true });
          return false;
        },
      );
    }
    expect(recovered).toBe(true);
    expect(await store!.has([event(3).internal_id], "production")).toEqual(
      new Set([event(3).internal_id]),
    );
    await store!.close();
  });
});
