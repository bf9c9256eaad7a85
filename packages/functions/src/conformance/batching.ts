import { expect, it } from "vitest";
import { FunctionsError } from "../errors";
import type { AppendToBatchInput, RunStore } from "../run-store";

/** What the batching cases need from the suite: fresh stores and a second handle on one. */
export interface BatchingConformanceContext {
  /** A store on fresh data. */
  open(): Promise<RunStore>;
  /** Another handle on the same data when the driver has one, else the store itself. */
  second(store: RunStore): Promise<RunStore>;
  /** The same data again after `close()` (drivers with `sharedData`), else `null`. */
  reopen: (() => Promise<RunStore>) | null;
  /** Whether `second` gives another handle (concurrent appends race across handles). */
  sharedData: boolean;
}

const T0 = 1_750_000_000_000;
const tag = Math.random().toString(36).slice(2, 8).toUpperCase();

/**
 * The `batchEvents` cases of the run store conformance suite: atomic, idempotent appends to
 * the open batch of a (function, key), closed when full, claimed, cancelled or past its
 * timeout. Called by `runRunStoreConformance` inside its `describe`.
 *
 * @example
 * ```ts
 * runBatchingConformance({ open, second, reopen: null, sharedData: false });
 * ```
 */
export function runBatchingConformance(ctx: BatchingConformanceContext): void {
  let n = 0;
  const fresh = () => `01BATCH${tag}${String(++n).padStart(8, "0")}`.slice(0, 26);
  const events = (count: number) => Array.from({ length: count }, fresh);
  const append = (
    store: RunStore,
    eventInternalId: string,
    more: Partial<AppendToBatchInput> = {},
  ) =>
    store.appendToBatch({
      functionId: "app-batch",
      eventInternalId,
      env: "test",
      batchKey: "*",
      maxSize: 3,
      timeoutMs: 2_000,
      now: T0,
      ...more,
    });

  it("batching: appends in arrival order, closes a full batch (due now) and opens the next", async () => {
    const store = await ctx.open();
    const ids = events(4);
    const first = await append(store, ids[0]!);
    expect(first).toMatchObject({ appended: true, created: true, size: 1, closed: false });
    expect(first.run).toMatchObject({
      functionId: "app-batch",
      eventInternalId: ids[0],
      status: "queued",
      dueAt: T0 + 2_000,
    });
    expect(await store.nextDueAt()).toBe(T0 + 2_000);
    const second = await append(store, ids[1]!, { now: T0 + 10 });
    expect(second).toMatchObject({ appended: true, created: false, size: 2, closed: false });
    expect(second.run.runId).toBe(first.run.runId);
    const third = await append(store, ids[2]!, { now: T0 + 20 });
    expect(third).toMatchObject({ appended: true, created: false, size: 3, closed: true });
    expect(third.run.dueAt).toBe(T0 + 20);
    const next = await append(store, ids[3]!, { now: T0 + 30 });
    expect(next).toMatchObject({ created: true, size: 1 });
    expect(next.run.runId).not.toBe(first.run.runId);
    expect(await store.listBatchEvents(first.run.runId)).toEqual(ids.slice(0, 3));
    expect(await store.listBatchEvents(next.run.runId)).toEqual([ids[3]]);
    expect((await store.listBatchRunsForEvent(ids[1]!)).map((r) => r.runId)).toEqual([
      first.run.runId,
    ]);
    const claimed = await store.claimDue(T0 + 40, "w", 60_000, 10);
    expect(claimed.map((r) => r.runId)).toEqual([first.run.runId]);
  });

  it("batching: appends made at once through one handle keep their call order", async () => {
    const store = await ctx.open();
    const ids = events(40);
    // Not awaited one by one (as the dispatcher does for the events of one request).
    const results = await Promise.all(
      ids.map((id, i) =>
        append(store, id, { maxSize: 25, batchKey: i % 2 ? "k:odd" : "k:even", now: T0 + i }),
      ),
    );
    const runIds = [...new Set(results.map((r) => r.run.runId))];
    expect(runIds).toHaveLength(2);
    const even = await store.listBatchEvents(results[0]!.run.runId);
    const odd = await store.listBatchEvents(results[1]!.run.runId);
    expect(even).toEqual(ids.filter((_, i) => i % 2 === 0));
    expect(odd).toEqual(ids.filter((_, i) => i % 2 === 1));
  });

  it("batching: appending an event again adds it once and returns its batch", async () => {
    const store = await ctx.open();
    const [a, b] = events(2);
    const first = await append(store, a!);
    const again = await append(store, a!, { now: T0 + 5 });
    expect(again).toMatchObject({ appended: false, created: false, size: 1, closed: false });
    expect(again.run.runId).toBe(first.run.runId);
    await append(store, b!, { maxSize: 2 });
    const late = await append(store, b!, { maxSize: 2, now: T0 + 9 });
    expect(late).toMatchObject({ appended: false, size: 2, closed: true });
    expect(await store.listBatchEvents(first.run.runId)).toEqual([a, b]);
  });

  it("batching: one open batch per key, and per function", async () => {
    const store = await ctx.open();
    const ids = events(4);
    const x1 = await append(store, ids[0]!, { batchKey: "k:x" });
    const y1 = await append(store, ids[1]!, { batchKey: "k:y" });
    const x2 = await append(store, ids[2]!, { batchKey: "k:x" });
    const other = await append(store, ids[2]!, { batchKey: "k:x", functionId: "app-other" });
    expect(x2.run.runId).toBe(x1.run.runId);
    expect(y1.run.runId).not.toBe(x1.run.runId);
    expect(other.created).toBe(true);
    expect(await store.listBatchEvents(x1.run.runId)).toEqual([ids[0], ids[2]]);
    expect(await store.listBatchEvents(y1.run.runId)).toEqual([ids[1]]);
    expect((await store.listBatchRunsForEvent(ids[2]!)).map((r) => r.functionId).sort()).toEqual([
      "app-batch",
      "app-other",
    ]);
  });

  it("batching: a claimed, cancelled or timed-out batch takes no more events; a retried one keeps its own", async () => {
    const store = await ctx.open();
    const ids = events(6);
    const claimedBatch = await append(store, ids[0]!, { maxSize: 10 });
    await append(store, ids[1]!, { maxSize: 10, now: T0 + 1 });
    const [claimed] = await store.claimDue(T0 + 2_000, "w", 60_000, 10);
    expect(claimed?.runId).toBe(claimedBatch.run.runId);
    const afterClaim = await append(store, ids[2]!, { maxSize: 10, now: T0 + 2_001 });
    expect(afterClaim.created).toBe(true);
    // Back in the queue for a retry: still started, so still closed.
    expect(
      await store.release(claimedBatch.run.runId, "w", {
        status: "queued",
        now: T0 + 2_002,
        dueAt: T0 + 9_000,
        attempt: 1,
      }),
    ).toBe(true);
    const third = await append(store, ids[3]!, { maxSize: 10, now: T0 + 2_003 });
    expect(third.run.runId).toBe(afterClaim.run.runId);
    expect(await store.listBatchEvents(claimedBatch.run.runId)).toEqual([ids[0], ids[1]]);
    // Cancelled: the next event opens a new batch.
    expect(await store.cancelRun(afterClaim.run.runId, T0 + 2_004)).toBe(true);
    const afterCancel = await append(store, ids[4]!, { maxSize: 10, now: T0 + 2_005 });
    expect(afterCancel.created).toBe(true);
    // Replayed: it runs again with its own events and takes no new ones.
    const replayed = await store.replayRun(afterClaim.run.runId, T0 + 2_004);
    expect(replayed?.status).toBe("queued");
    expect(await store.listBatchEvents(afterClaim.run.runId)).toEqual([ids[2], ids[3]]);
    // Due (its timeout passed) but not claimed yet: closed as well.
    const afterTimeout = await append(store, ids[5]!, { maxSize: 10, now: T0 + 2_005 + 2_000 });
    expect(afterTimeout.created).toBe(true);
    expect(await store.listBatchEvents(afterCancel.run.runId)).toEqual([ids[4]]);
  });

  it("batching: closeBatch forgets a started batch's open entry; the next event opens a new batch", async () => {
    const store = await ctx.open();
    const [a, b, c] = events(3);
    const first = await append(store, a!, { batchKey: "k:u1" });
    await store.claimDue(T0 + 2_000, "w", 60_000, 10);
    await store.closeBatch(first.run.runId);
    await store.closeBatch(first.run.runId);
    const next = await append(store, b!, { batchKey: "k:u1", now: T0 + 2_001 });
    expect(next.created).toBe(true);
    const third = await append(store, c!, { batchKey: "k:u1", now: T0 + 2_002 });
    expect(third.run.runId).toBe(next.run.runId);
    expect(await store.listBatchEvents(first.run.runId)).toEqual([a]);
    // An open batch closed this way takes no more events either.
    await store.closeBatch(next.run.runId);
    const after = await append(store, fresh(), { batchKey: "k:u1", now: T0 + 2_003 });
    expect(after.created).toBe(true);
  });

  it("batching: an event with an unbatched run of the function gets that run back", async () => {
    const store = await ctx.open();
    const [a] = events(1);
    const { run } = await store.createRun({
      functionId: "app-batch",
      eventInternalId: a!,
      env: "test",
      dueAt: T0,
      now: T0,
    });
    const result = await append(store, a!);
    expect(result).toMatchObject({ appended: false, created: false, size: 0 });
    expect(result.run.runId).toBe(run.runId);
    expect(await store.listBatchEvents(run.runId)).toEqual([]);
  });

  it("batching: refuses a bad maxSize, timeout or batch key", async () => {
    const store = await ctx.open();
    const [a] = events(1);
    for (const bad of [
      { maxSize: 0 },
      { maxSize: 1_000_000 },
      { timeoutMs: -1 },
      { batchKey: "" },
      { batchKey: "has space" },
    ]) {
      const error = await append(store, a!, bad).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(FunctionsError);
      expect((error as FunctionsError).code).toBe("invalid_input");
    }
    expect(await store.listBatchRunsForEvent(a!)).toEqual([]);
  });

  it("batching: concurrent appends (from two handles) never split, double or overfill a batch", async () => {
    const store = await ctx.open();
    const other = await ctx.second(store);
    const ids = events(7);
    // Each event appended twice, from both handles at once (a retried dispatch).
    const results = await Promise.all(
      [...ids, ...ids].map((id, i) => append(i % 2 ? other : store, id, { maxSize: 5 })),
    );
    expect(results.filter((r) => r.appended)).toHaveLength(7);
    const runIds = [...new Set(results.map((r) => r.run.runId))];
    expect(runIds).toHaveLength(2);
    const batches = await Promise.all(runIds.map((id) => store.listBatchEvents(id)));
    expect(batches.map((b) => b.length).sort()).toEqual([2, 5]);
    expect(batches.flat().sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await store.listBatchRunsForEvent(id)).toHaveLength(1);
  });

  if (ctx.reopen !== null) {
    const reopen = ctx.reopen;
    it("batching: an open batch survives close and reopen, and takes more events", async () => {
      const store = await ctx.open();
      const [a, b] = events(2);
      const first = await append(store, a!);
      await store.close();
      const again = await reopen();
      const next = await append(again, b!, { now: T0 + 100 });
      expect(next.run.runId).toBe(first.run.runId);
      expect(await again.listBatchEvents(first.run.runId)).toEqual([a, b]);
    });
  }
}
