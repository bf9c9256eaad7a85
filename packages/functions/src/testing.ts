import { afterEach, describe, expect, it } from "vitest";
import { runBatchingConformance } from "./conformance/batching";
import { concurrencyConformance } from "./conformance/concurrency";
import { flowControlConformance } from "./conformance/flow-control";
import { stepNamesConformance } from "./conformance/step-names";
import { waitsConformance } from "./conformance/waits";
import { FunctionsError } from "./errors";
import type { AttemptInput, JsonValue, RunRecord, RunStore } from "./run-store";
import { MAX_VALUE_BYTES } from "./validate";

/**
 * Opens a run store. A new `key` gives fresh, empty data; with `sharedData`, the same `key`
 * again opens another handle (another connection) on the same data.
 */
export type RunStoreFactory = (key: string) => RunStore | Promise<RunStore>;

/** Optional abilities of a driver; the suite runs the matching cases only when set. */
export interface RunStoreCapabilities {
  /**
   * `factory(key)` called again with the same key opens the same data through another handle:
   * claims are raced across two handles and data is checked to survive `close()`.
   */
  sharedData?: boolean;
}

const T0 = 1_750_000_000_000;
const tag = Math.random().toString(36).slice(2, 8);
let counter = 0;

const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: unknown) => error,
  );

async function expectFunctionsError(
  promise: Promise<unknown>,
  code: string,
  message: RegExp,
): Promise<FunctionsError> {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(FunctionsError);
  expect((error as FunctionsError).code).toBe(code);
  expect((error as FunctionsError).message).toMatch(message);
  return error as FunctionsError;
}

/**
 * The behaviour every {@link RunStore} driver must have, as a vitest suite. Call it from a
 * driver's test file.
 *
 * @example
 * ```ts
 * import { createSqliteRunStore } from "@evt/functions/sqlite";
 * import { runRunStoreConformance } from "@evt/functions/testing";
 *
 * runRunStoreConformance("sqlite", (key) => createSqliteRunStore({ path: `/tmp/runs-${key}.db` }), {
 *   sharedData: true,
 * });
 * ```
 */
export function runRunStoreConformance(
  name: string,
  factory: RunStoreFactory,
  capabilities: RunStoreCapabilities = {},
): void {
  describe(`RunStore conformance: ${name}`, () => {
    const opened: RunStore[] = [];
    let key = "";

    async function open(sameData = false): Promise<RunStore> {
      if (!sameData) {
        counter += 1;
        key = `${tag}-${counter}`;
      }
      const store = await factory(key);
      opened.push(store);
      return store;
    }

    /** A second claimer: another handle on the same data when the driver has one. */
    async function second(store: RunStore): Promise<RunStore> {
      return capabilities.sharedData ? open(true) : store;
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    const event = (n: number) => `01EVT${tag.toUpperCase()}${String(n).padStart(8, "0")}`;
    concurrencyConformance({ open: () => open(), second, event, t0: T0 });
    stepNamesConformance({ open: () => open(), event, t0: T0 });
    flowControlConformance({ open: () => open(), second, event, t0: T0 });
    const create = (store: RunStore, n: number, dueAt = T0, functionId = "app-fn") =>
      store.createRun({ functionId, eventInternalId: event(n), env: "test", dueAt, now: T0 });

    describe("run creation", () => {
      it("creates one run per (function, event): a second create returns the first run", async () => {
        const store = await open();
        const first = await create(store, 1);
        expect(first.created).toBe(true);
        expect(first.run).toMatchObject({
          functionId: "app-fn",
          eventInternalId: event(1),
          env: "test",
          status: "queued",
          attempt: 0,
          output: null,
          error: null,
          createdAt: T0,
          dueAt: T0,
          leaseOwner: null,
        });
        expect(first.run.runId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
        const again = await create(store, 1, T0 + 99);
        expect(again).toEqual({ run: first.run, created: false });
        const other = await create(store, 1, T0, "app-other");
        expect(other.created).toBe(true);
        expect(other.run.runId).not.toBe(first.run.runId);
        expect((await store.listRunsForEvent(event(1))).map((r) => r.functionId).sort()).toEqual([
          "app-fn",
          "app-other",
        ]);
      });

      it("concurrent creates of one (function, event), from two handles, make one run", async () => {
        const store = await open();
        const other = await second(store);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => create(i % 2 ? other : store, 7)),
        );
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.run.runId)).size).toBe(1);
        expect(await store.listRunsForEvent(event(7))).toHaveLength(1);
      });

      it("keeps a given run id, and refuses one already used by another run", async () => {
        const store = await open();
        const runId = "01JD000000000000000000000A";
        const { run } = await store.createRun({
          functionId: "app-fn",
          eventInternalId: event(1),
          env: "test",
          dueAt: T0,
          runId,
        });
        expect(run.runId).toBe(runId);
        expect(await store.getRun(runId)).toEqual(run);
        await expectFunctionsError(
          store.createRun({
            functionId: "app-fn",
            eventInternalId: event(2),
            env: "test",
            dueAt: T0,
            runId,
          }),
          "invalid_input",
          /runId 01JD000000000000000000000A is already the id of another run/,
        );
        expect(await store.listRunsForEvent(event(2))).toEqual([]);
        expect(await store.getRun("01JD000000000000000000000B")).toBeNull();
      });

      it("creates a run already held with a lease: no one else claims it before the lease ends, a repeat does not take it", async () => {
        const store = await open();
        const other = await second(store);
        const lease = { owner: "maker", leaseMs: 1_000 };
        const first = await store.createRun({
          functionId: "app-fn",
          eventInternalId: event(1),
          env: "test",
          dueAt: T0,
          now: T0,
          lease,
        });
        expect(first.created).toBe(true);
        expect(first.run).toMatchObject({
          status: "running",
          attempt: 0,
          createdAt: T0,
          startedAt: T0,
          leaseOwner: "maker",
          leaseUntil: T0 + 1_000,
          dueAt: T0 + 1_000,
        });
        expect(await store.getRun(first.run.runId)).toEqual(first.run);
        expect(await other.claimDue(T0 + 999, "thief", 1_000, 10)).toEqual([]);
        expect(await store.renewLease(first.run.runId, "maker", T0 + 500, 1_000)).toBe(true);
        const again = await other.createRun({
          functionId: "app-fn",
          eventInternalId: event(1),
          env: "test",
          dueAt: T0,
          now: T0 + 600,
          lease: { owner: "thief", leaseMs: 1_000 },
        });
        expect(again.created).toBe(false);
        expect(again.run).toMatchObject({ leaseOwner: "maker", leaseUntil: T0 + 1_500 });
        expect(await other.claimDue(T0 + 1_499, "thief", 1_000, 10)).toEqual([]);
        const [taken] = await other.claimDue(T0 + 1_500, "thief", 1_000, 10);
        expect(taken).toMatchObject({ runId: first.run.runId, leaseOwner: "thief", startedAt: T0 });
        expect(
          await store.release(first.run.runId, "maker", { status: "completed", now: T0 + 1_501 }),
        ).toBe(false);
        await expectFunctionsError(
          store.createRun({
            functionId: "app-fn",
            eventInternalId: event(2),
            env: "test",
            dueAt: T0 + 5_000,
            now: T0,
            lease,
          }),
          "invalid_input",
          /a run created with a lease is claimed at once: dueAt .* must not be after now/,
        );
        await expectFunctionsError(
          store.createRun({
            functionId: "app-fn",
            eventInternalId: event(3),
            env: "test",
            dueAt: T0,
            now: T0,
            lease: { owner: "", leaseMs: 0 },
          }),
          "invalid_input",
          /lease\.owner/,
        );
        expect(await store.listRunsForEvent(event(2))).toEqual([]);
        expect(await store.listRunsForEvent(event(3))).toEqual([]);
      });
    });

    describe("claims and leases", () => {
      it("two claimers never get the same run, and together get every due run once", async () => {
        const a = await open();
        const b = await second(a);
        const total = 120;
        for (let i = 0; i < total; i++) await create(a, i);
        const got: Record<string, string[]> = { a: [], b: [] };
        const claimer = async (store: RunStore, owner: "a" | "b") => {
          for (;;) {
            const runs = await store.claimDue(T0 + 1, owner, 60_000, 7);
            if (runs.length === 0) return;
            for (const r of runs) {
              expect(r.leaseOwner).toBe(owner);
              got[owner]!.push(r.runId);
            }
          }
        };
        await Promise.all([claimer(a, "a"), claimer(b, "b"), claimer(a, "a"), claimer(b, "b")]);
        const all = [...got.a!, ...got.b!];
        expect(all).toHaveLength(total);
        expect(new Set(all).size).toBe(total);
        for (const id of got.b!) expect((await a.getRun(id))?.leaseOwner).toBe("b");
      });

      it("a live lease is not claimable; an expired one is, and the old owner loses the run", async () => {
        const store = await open();
        const other = await second(store);
        const { run } = await create(store, 1);
        const [claimed] = await store.claimDue(T0, "old", 1_000, 10);
        expect(claimed).toMatchObject({
          runId: run.runId,
          status: "running",
          startedAt: T0,
          leaseOwner: "old",
          leaseUntil: T0 + 1_000,
          dueAt: T0 + 1_000,
        });
        expect(await other.claimDue(T0 + 999, "new", 1_000, 10)).toEqual([]);
        const [again] = await other.claimDue(T0 + 1_000, "new", 5_000, 10);
        expect(again).toMatchObject({ runId: run.runId, leaseOwner: "new", startedAt: T0 });
        expect(await store.renewLease(run.runId, "old", T0 + 1_001, 1_000)).toBe(false);
        expect(
          await store.release(run.runId, "old", { status: "completed", now: T0 + 1_002 }),
        ).toBe(false);
        expect(
          await store.saveSteps(run.runId, "old", [
            { stepId: "s1", op: "StepRun", data: 1, error: null, attempts: 1 },
          ]),
        ).toBe(false);
        expect(await store.listSteps(run.runId)).toEqual([]);
        expect(await store.getRun(run.runId)).toMatchObject({
          status: "running",
          leaseOwner: "new",
        });
      });

      it("expireLeases frees every held run at once (a restart of the only gateway); queued and finished runs keep their times", async () => {
        const store = await open();
        const { run: held } = await create(store, 1);
        const { run: later } = await create(store, 2, T0 + 5);
        const [claimed] = await store.claimDue(T0, "dead", 30_000, 10);
        expect(claimed!.runId).toBe(held.runId);
        expect(await store.claimDue(T0 + 10, "new", 1_000, 10)).toMatchObject([
          { runId: later.runId },
        ]);
        await store.release(later.runId, "new", { status: "completed", now: T0 + 11 });
        expect(await store.claimDue(T0 + 20, "new", 1_000, 10)).toEqual([]);
        expect(await store.expireLeases(T0 + 20)).toBe(1);
        expect(await store.nextDueAt()).toBe(T0 + 20);
        const [again] = await store.claimDue(T0 + 20, "new", 1_000, 10);
        expect(again).toMatchObject({ runId: held.runId, leaseOwner: "new" });
        expect(await store.getRun(later.runId)).toMatchObject({ status: "completed" });
        expect(await store.renewLease(held.runId, "dead", T0 + 21, 1_000)).toBe(false);
      });

      it("renewLease keeps the run from other claimers until the new end", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        await store.claimDue(T0, "me", 1_000, 1);
        expect(await store.renewLease(run.runId, "me", T0 + 900, 1_000)).toBe(true);
        expect(await store.claimDue(T0 + 1_500, "thief", 1_000, 1)).toEqual([]);
        expect(await store.nextDueAt()).toBe(T0 + 1_900);
        expect((await store.claimDue(T0 + 1_900, "thief", 1_000, 1)).map((r) => r.runId)).toEqual([
          run.runId,
        ]);
      });

      it("claims earliest due_at first, never before it is due, and nextDueAt names the earliest", async () => {
        const store = await open();
        expect(await store.nextDueAt()).toBeNull();
        const offsets = [50, 10, 40, 0, 30, 20, 5_000];
        const ids = new Map<number, string>();
        for (const [i, off] of offsets.entries()) {
          ids.set(off, (await create(store, i, T0 + off)).run.runId);
        }
        expect(await store.nextDueAt()).toBe(T0);
        const first = await store.claimDue(T0 + 35, "w", 10_000, 3);
        expect(first.map((r) => r.runId)).toEqual([ids.get(0), ids.get(10), ids.get(20)]);
        const rest = await store.claimDue(T0 + 35, "w", 10_000, 10);
        expect(rest.map((r) => r.runId)).toEqual([ids.get(30)]);
        expect(await store.nextDueAt()).toBe(T0 + 40);
        expect((await store.claimDue(T0 + 4_999, "w", 100_000, 10)).map((r) => r.runId)).toEqual([
          ids.get(40),
          ids.get(50),
        ]);
        expect(await store.nextDueAt()).toBe(T0 + 5_000);
      });

      it("release requeues with a due time and attempt, or finishes with output or error", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        await store.claimDue(T0, "w", 1_000, 1);
        const error = { name: "Error", message: "boom", stack: "at x" };
        expect(
          await store.release(run.runId, "w", {
            status: "queued",
            now: T0 + 10,
            dueAt: T0 + 500,
            attempt: 1,
            error,
          }),
        ).toBe(true);
        expect(await store.getRun(run.runId)).toMatchObject({
          status: "queued",
          attempt: 1,
          error,
          dueAt: T0 + 500,
          leaseOwner: null,
          leaseUntil: null,
          endedAt: null,
        });
        expect(await store.claimDue(T0 + 499, "w", 1_000, 1)).toEqual([]);
        expect(await store.claimDue(T0 + 500, "w", 1_000, 1)).toHaveLength(1);
        const output: JsonValue = { ok: true, list: [1, "two", null], text: "é\u2028😀" };
        expect(
          await store.release(run.runId, "w", { status: "completed", now: T0 + 600, output }),
        ).toBe(true);
        expect(await store.getRun(run.runId)).toMatchObject({
          status: "completed",
          output,
          endedAt: T0 + 600,
          dueAt: null,
          startedAt: T0,
        });
        expect(await store.nextDueAt()).toBeNull();
        expect(await store.claimDue(T0 + 10_000_000, "w", 1_000, 10)).toEqual([]);
        expect(await store.release(run.runId, "w", { status: "failed", now: T0 + 700 })).toBe(
          false,
        );
      });
    });

    describe("listFailedRuns", () => {
      it("lists failed runs newest first, whichever handle failed them, up to the limit; a replayed run leaves the list", async () => {
        const store = await open();
        const other = await second(store);
        const runs: RunRecord[] = [];
        for (let n = 1; n <= 4; n++) runs.push((await create(store, n)).run);
        await create(store, 5); // stays queued
        expect(await store.claimDue(T0, "w", 60_000, 10)).toHaveLength(5);
        const fail = (s: RunStore, i: number, at: number) =>
          s.release(runs[i]!.runId, "w", {
            status: "failed",
            now: at,
            error: { message: `e${i}` },
          });
        expect(await fail(store, 0, T0 + 30)).toBe(true);
        expect(await fail(other, 1, T0 + 10)).toBe(true);
        expect(await fail(other, 2, T0 + 20)).toBe(true);
        await store.release(runs[3]!.runId, "w", { status: "completed", now: T0 + 40 });
        expect((await other.listFailedRuns(10)).map((r) => r.runId)).toEqual([
          runs[0]!.runId,
          runs[2]!.runId,
          runs[1]!.runId,
        ]);
        const [newest] = await store.listFailedRuns(1);
        expect(newest).toMatchObject({
          runId: runs[0]!.runId,
          status: "failed",
          endedAt: T0 + 30,
          error: { message: "e0" },
        });
        await store.replayRun(runs[0]!.runId, T0 + 50);
        expect((await store.listFailedRuns(10)).map((r) => r.runId)).toEqual([
          runs[2]!.runId,
          runs[1]!.runId,
        ]);
        await expectFunctionsError(store.listFailedRuns(0), "invalid_input", /limit/);
        await expectFunctionsError(store.listFailedRuns(1001), "invalid_input", /limit/);
      });
    });

    describe("run attempts", () => {
      it("keeps each attempt's outcome, times and error in the order recorded, readable from another handle; a replay clears them", async () => {
        const store = await open();
        const other = await second(store);
        const { run } = await create(store, 1);
        const { run: next } = await create(store, 2);
        expect(await store.listAttempts(run.runId)).toEqual([]);
        const failed: AttemptInput = {
          runId: run.runId,
          attempt: 1,
          outcome: "failed",
          startedAt: T0 + 200,
          endedAt: T0 + 250,
          error: { name: "Error", message: "again" },
        };
        const retried: AttemptInput = {
          ...failed,
          attempt: 0,
          outcome: "retried",
          startedAt: null,
          endedAt: T0 + 100,
          error: { name: "Error", message: "first" },
        };
        // After a step completes the counter starts again: attempt 0 a second time.
        const completed: AttemptInput = {
          ...retried,
          outcome: "completed",
          startedAt: T0 + 300,
          endedAt: T0 + 310,
          error: null,
        };
        await store.recordAttempt(failed);
        await other.recordAttempt(retried);
        await other.recordAttempt(completed);
        await store.recordAttempt({ ...completed, runId: next.runId });
        expect(await other.listAttempts(run.runId)).toEqual([failed, retried, completed]);
        expect((await store.listAttempts(next.runId)).map((a) => a.outcome)).toEqual(["completed"]);
        await store.claimDue(T0, "w", 60_000, 10);
        await store.release(run.runId, "w", { status: "failed", now: T0 + 250 });
        await store.replayRun(run.runId, T0 + 300);
        expect(await store.listAttempts(run.runId)).toEqual([]);
        expect(await store.listAttempts(next.runId)).toHaveLength(1);
      });

      it("refuses a bad attempt, naming the field", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        const base = {
          runId: run.runId,
          attempt: 0,
          outcome: "failed" as const,
          startedAt: null,
          endedAt: T0,
          error: null,
        };
        await expectFunctionsError(
          store.recordAttempt({ ...base, outcome: "lost" as "failed" }),
          "invalid_input",
          /attempt\.outcome must be one of retried, failed, completed/,
        );
        await expectFunctionsError(
          store.recordAttempt({ ...base, attempt: -1 }),
          "invalid_input",
          /attempt\.attempt/,
        );
        await expectFunctionsError(
          store.recordAttempt({ ...base, runId: "nope" }),
          "invalid_input",
          /attempt\.runId/,
        );
        await expectFunctionsError(
          store.recordAttempt({ ...base, error: { n: 10n } as unknown as null }),
          "invalid_input",
          /attempt\.error/,
        );
        expect(await store.listAttempts(run.runId)).toEqual([]);
      });
    });

    describe("listActiveRuns", () => {
      it("lists a function's queued and running runs, oldest first, up to the limit; not finished ones or other functions'", async () => {
        const store = await open();
        const { run: a } = await create(store, 1);
        const { run: b } = await create(store, 2);
        const { run: c } = await create(store, 3);
        await create(store, 4, T0, "app-other");
        await store.claimDue(T0, "w", 1_000, 1);
        await store.cancelRun(c.runId, T0 + 1);
        const active = await store.listActiveRuns("app-fn", 10);
        expect(active.map((r) => r.runId)).toEqual([a.runId, b.runId].sort());
        expect(active.map((r) => r.status).sort()).toEqual(["queued", "running"]);
        expect(await store.listActiveRuns("app-fn", 1)).toHaveLength(1);
        expect(await store.listActiveRuns("app-none", 10)).toEqual([]);
        await expect(store.listActiveRuns("app-fn", 0)).rejects.toThrow(/limit/);
      });
    });

    describe("countActive", () => {
      it("counts queued (sleeping or due), due and running runs; finished ones not at all", async () => {
        const store = await open();
        expect(await store.countActive(T0)).toEqual({ queued: 0, due: 0, running: 0 });
        await create(store, 1);
        await create(store, 2, T0 + 60_000);
        const { run: done } = await create(store, 3);
        expect(await store.countActive(T0)).toEqual({ queued: 3, due: 2, running: 0 });
        const claimed = await store.claimDue(T0, "w", 1_000, 10);
        expect(claimed).toHaveLength(2);
        await store.release(done.runId, "w", { status: "completed", now: T0 + 1 });
        expect(await store.countActive(T0 + 1)).toEqual({ queued: 1, due: 0, running: 1 });
        expect(await store.countActive(T0 + 60_000)).toEqual({ queued: 1, due: 1, running: 1 });
      });
    });

    describe("cron ticks", () => {
      it("keeps the latest tick per function: an earlier one does not move it back", async () => {
        const store = await open();
        expect(await store.lastCronTick("app-cron")).toBeNull();
        await store.recordCronTick("app-cron", T0 + 60_000);
        await store.recordCronTick("app-cron", T0);
        expect(await store.lastCronTick("app-cron")).toBe(T0 + 60_000);
        await store.recordCronTick("app-cron", T0 + 120_000);
        expect(await store.lastCronTick("app-cron")).toBe(T0 + 120_000);
        expect(await store.lastCronTick("app-other")).toBeNull();
        await expect(store.recordCronTick("app-cron", -1)).rejects.toThrow(/tickAt/);
      });
    });

    describe("replay", () => {
      it("replays a failed or cancelled run from scratch (queued, attempt 0, steps gone); other runs are left as they are", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        const [claimed] = await store.claimDue(T0, "w", 1_000, 10);
        expect(claimed!.runId).toBe(run.runId);
        await store.saveSteps(run.runId, "w", [
          { stepId: "s1", op: "StepRun", data: 1, error: null, attempts: 1 },
        ]);
        await store.release(run.runId, "w", {
          status: "failed",
          now: T0 + 5,
          attempt: 3,
          error: { message: "boom" },
        });
        const replayed = await store.replayRun(run.runId, T0 + 10);
        expect(replayed).toMatchObject({
          runId: run.runId,
          status: "queued",
          attempt: 0,
          error: null,
          output: null,
          startedAt: null,
          endedAt: null,
          dueAt: T0 + 10,
        });
        expect(await store.listSteps(run.runId)).toEqual([]);
        const [again] = await store.claimDue(T0 + 10, "w2", 1_000, 10);
        expect(again).toMatchObject({ runId: run.runId, startedAt: T0 + 10 });
        // A running, queued or completed run is not replayed.
        expect(await store.replayRun(run.runId, T0 + 11)).toBeNull();
        await store.release(run.runId, "w2", { status: "completed", now: T0 + 12 });
        expect(await store.replayRun(run.runId, T0 + 13)).toBeNull();
        const { run: other } = await create(store, 2);
        expect(await store.replayRun(other.runId, T0 + 14)).toBeNull();
        await store.cancelRun(other.runId, T0 + 15);
        expect(await store.replayRun(other.runId, T0 + 16)).toMatchObject({ status: "queued" });
        expect(await store.replayRun("01ARZ3NDEKTSV4RRFFQ69G5FAV", T0)).toBeNull();
      });
    });

    describe("cancel", () => {
      it("cancels a queued or a held run; the holder loses it; a finished run stays as it is", async () => {
        const store = await open();
        const other = await second(store);
        const queued = (await create(store, 1)).run.runId;
        const held = (await create(store, 2, T0 + 1)).run.runId;
        const done = (await create(store, 3, T0 + 2)).run.runId;
        await store.claimDue(T0 + 2, "w", 60_000, 3); // claims all three
        await store.release(queued, "w", { status: "queued", now: T0 + 3, dueAt: T0 + 10 });
        await store.release(done, "w", { status: "completed", now: T0 + 3, output: 1 });
        expect(await other.cancelRun(queued, T0 + 4)).toBe(true);
        expect(await other.cancelRun(held, T0 + 5)).toBe(true);
        expect(await other.cancelRun(done, T0 + 6)).toBe(false);
        expect(await other.cancelRun("01JD000000000000000000000Z", T0 + 6)).toBe(false);
        expect(await store.getRun(queued)).toMatchObject({
          status: "cancelled",
          endedAt: T0 + 4,
          dueAt: null,
        });
        expect(await store.getRun(held)).toMatchObject({ status: "cancelled", leaseOwner: null });
        expect(await store.getRun(done)).toMatchObject({ status: "completed", endedAt: T0 + 3 });
        expect(await store.renewLease(held, "w", T0 + 7, 1_000)).toBe(false);
        expect(await store.release(held, "w", { status: "completed", now: T0 + 7 })).toBe(false);
        expect(
          await store.saveSteps(held, "w", [
            { stepId: "s", op: "StepRun", data: 1, error: null, attempts: 1 },
          ]),
        ).toBe(false);
        expect(await store.claimDue(T0 + 1_000_000, "w", 1_000, 10)).toEqual([]);
        expect(await store.nextDueAt()).toBeNull();
        await expectFunctionsError(
          store.cancelRun("nope", T0),
          "invalid_input",
          /runId must be a ULID/,
        );
      });
    });

    describe("steps", () => {
      it("memoizes steps in first-stored order; a step saved again replaces its data", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        await store.claimDue(T0, "w", 60_000, 1);
        const data: JsonValue = { nested: { deep: [1, 2, { x: "y" }] }, s: "\u0000 ok" };
        expect(
          await store.saveSteps(run.runId, "w", [
            { stepId: "b-hash", op: "StepRun", data, error: null, attempts: 1, updatedAt: T0 + 1 },
            {
              stepId: "a-hash",
              op: "StepError",
              data: null,
              error: { message: "x" },
              attempts: 1,
              updatedAt: T0 + 2,
            },
          ]),
        ).toBe(true);
        expect(
          await store.saveSteps(run.runId, "w", [
            {
              stepId: "a-hash",
              op: "StepRun",
              data: "second",
              error: null,
              attempts: 2,
              updatedAt: T0 + 3,
            },
            {
              stepId: "c-hash",
              op: "Sleep",
              data: null,
              error: null,
              attempts: 0,
              updatedAt: T0 + 4,
            },
          ]),
        ).toBe(true);
        expect(await store.listSteps(run.runId)).toEqual([
          {
            runId: run.runId,
            stepId: "b-hash",
            op: "StepRun",
            data,
            error: null,
            attempts: 1,
            updatedAt: T0 + 1,
            name: null,
            startedAt: null,
          },
          {
            runId: run.runId,
            stepId: "a-hash",
            op: "StepRun",
            data: "second",
            error: null,
            attempts: 2,
            updatedAt: T0 + 3,
            name: null,
            startedAt: null,
          },
          {
            runId: run.runId,
            stepId: "c-hash",
            op: "Sleep",
            data: null,
            error: null,
            attempts: 0,
            updatedAt: T0 + 4,
            name: null,
            startedAt: null,
          },
        ]);
        const other = (await create(store, 2)).run.runId;
        expect(await store.listSteps(other)).toEqual([]);
      });

      it("refuses steps of a run the caller does not hold", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        const step = { stepId: "s", op: "StepRun", data: 1, error: null, attempts: 1 };
        expect(await store.saveSteps(run.runId, "w", [step])).toBe(false); // queued, not claimed
        expect(await store.listSteps(run.runId)).toEqual([]);
      });
    });

    describe("apps and functions", () => {
      const app = {
        url: "http://127.0.0.1:3000/api/inngest",
        appId: "acc-app",
        sdk: "js:v4.24.0",
        framework: "nodejs",
        syncedAt: T0,
        lastError: null,
      };
      const fn = (id: string, over: Record<string, unknown> = {}) => ({
        id,
        name: id,
        config: { triggers: [{ event: "app/user.signup" }], retries: 4 },
        stepUrl: `${app.url}?fnId=${id}&stepId=step`,
        ...over,
      });

      it("upserts apps by url; a sync replaces an app's functions, raising versions of changed ones", async () => {
        const store = await open();
        const other = await second(store);
        await store.upsertApp(app);
        await store.upsertApp({ ...app, lastError: "timeout", syncedAt: T0 + 1 });
        expect(await other.listApps()).toEqual([
          { ...app, lastError: "timeout", syncedAt: T0 + 1 },
        ]);
        const sync1 = await store.syncApp(app, [fn("acc-app-a"), fn("acc-app-b")]);
        expect(sync1.modified).toBe(true);
        expect(sync1.functions.map((f) => [f.id, f.version])).toEqual([
          ["acc-app-a", 1],
          ["acc-app-b", 1],
        ]);
        expect(await other.getApp(app.url)).toEqual(app); // the sync stored the app too
        const same = await store.syncApp(app, [fn("acc-app-a"), fn("acc-app-b")]);
        expect(same.modified).toBe(false);
        const changed = await store.syncApp(app, [
          fn("acc-app-a"),
          fn("acc-app-b", { config: { retries: 0 } }),
        ]);
        expect(changed.modified).toBe(true);
        const removed = await store.syncApp(app, [fn("acc-app-b", { config: { retries: 0 } })]);
        expect(removed.modified).toBe(true);
        await store.syncApp(app, [fn("acc-app-b", { config: { retries: 0 } }), fn("acc-app-c")]);
        expect((await other.listFunctions()).map((f) => [f.id, f.version])).toEqual([
          ["acc-app-b", 2],
          ["acc-app-c", 1],
        ]);
        expect(await other.getFunction("acc-app-b")).toEqual({
          id: "acc-app-b",
          appUrl: app.url,
          name: "acc-app-b",
          config: { retries: 0 },
          stepUrl: `${app.url}?fnId=acc-app-b&stepId=step`,
          version: 2,
        });
        expect(await store.getFunction("acc-app-a")).toBeNull();
        expect(await other.listFunctions(app.url)).toHaveLength(2);
      });

      it("refuses a sync holding an id another app holds, storing neither the app nor its functions", async () => {
        const store = await open();
        await store.syncApp(app, [fn("shared")]);
        const app2 = { ...app, url: "http://127.0.0.1:3001/api/inngest", appId: "other" };
        await expectFunctionsError(
          store.syncApp(app2, [fn("mine"), fn("shared")]),
          "invalid_input",
          /functions\[1\]\.id "shared" is registered by another app/,
        );
        expect(await store.getApp(app2.url)).toBeNull();
        expect(await store.listFunctions(app2.url)).toEqual([]);
        expect((await store.getFunction("shared"))?.appUrl).toBe(app.url);
      });
    });

    describe("an app that moves", () => {
      it("a sync of the same app id from a new URL takes its functions along and forgets the old URL", async () => {
        const store = await open();
        const old = {
          url: "http://127.0.0.1:3000/api/inngest",
          appId: "mover",
          sdk: "js:v4.24.0",
          framework: "nodejs",
          syncedAt: T0,
          lastError: null,
        };
        const at = (url: string, id: string) => ({
          id,
          name: id,
          config: {},
          stepUrl: `${url}?fnId=${id}&stepId=step`,
        });
        await store.syncApp(old, [at(old.url, "mover-a"), at(old.url, "mover-gone")]);
        const moved = { ...old, url: "http://127.0.0.1:4000/api/inngest", syncedAt: T0 + 1 };
        const result = await store.syncApp(moved, [
          at(moved.url, "mover-a"),
          at(moved.url, "mover-b"),
        ]);
        expect(result.modified).toBe(true);
        expect((await store.listApps()).map((a) => a.url)).toEqual([moved.url]);
        expect(await store.getApp(old.url)).toBeNull();
        expect((await store.listFunctions()).map((f) => [f.id, f.appUrl])).toEqual([
          ["mover-a", moved.url],
          ["mover-b", moved.url],
        ]);
        expect((await store.getFunction("mover-a"))?.stepUrl).toBe(
          `${moved.url}?fnId=mover-a&stepId=step`,
        );
      });
    });

    describe("hostile input", () => {
      it("refuses bad ids with the field and what is allowed", async () => {
        const store = await open();
        await expectFunctionsError(
          store.getRun("not-a-ulid"),
          "invalid_input",
          /runId must be a ULID/,
        );
        await expectFunctionsError(
          store.getRun("01jd000000000000000000000a"),
          "invalid_input",
          /runId must be a ULID/,
        );
        await expectFunctionsError(
          store.createRun({
            functionId: "has space",
            eventInternalId: event(1),
            env: "t",
            dueAt: T0,
          }),
          "invalid_input",
          /functionId must be 1 to 255 printable ASCII characters without spaces, got "has space"/,
        );
        await expectFunctionsError(
          store.createRun({
            functionId: "f".repeat(256),
            eventInternalId: event(1),
            env: "t",
            dueAt: T0,
          }),
          "invalid_input",
          /functionId .* \(256 characters\)/,
        );
        await expectFunctionsError(
          store.createRun({ functionId: "f", eventInternalId: "", env: "t", dueAt: T0 }),
          "invalid_input",
          /eventInternalId must be 1 to 64/,
        );
        await expectFunctionsError(
          store.createRun({ functionId: "f", eventInternalId: event(1), env: "t\n", dueAt: T0 }),
          "invalid_input",
          /env must be/,
        );
        await expectFunctionsError(
          store.createRun({
            functionId: "f",
            eventInternalId: event(1),
            env: "t",
            dueAt: Number.NaN,
          }),
          "invalid_input",
          /dueAt must be a time in ms/,
        );
        await expectFunctionsError(
          store.createRun(null as never),
          "invalid_input",
          /createRun input must be an object/,
        );
        await expectFunctionsError(
          store.claimDue(T0, "w", 1_000, 0),
          "invalid_input",
          /limit must be an integer from 1 to 1000/,
        );
        await expectFunctionsError(
          store.claimDue(T0, "", 1_000, 1),
          "invalid_input",
          /owner must be/,
        );
        await expectFunctionsError(
          store.claimDue(T0, "w", -1, 1),
          "invalid_input",
          /leaseMs must be/,
        );
        expect(await store.listRunsForEvent(event(1))).toEqual([]);
        expect(await store.nextDueAt()).toBeNull();
      });

      it("refuses an app URL with credentials without echoing them", async () => {
        const store = await open();
        const error = await expectFunctionsError(
          store.upsertApp({
            url: "http://user:s3cret-pw@127.0.0.1:3000/api",
            appId: "a",
            sdk: null,
            framework: null,
            syncedAt: null,
            lastError: null,
          }),
          "invalid_input",
          /app\.url must not hold credentials/,
        );
        expect(error.message).not.toContain("s3cret-pw");
        await expectFunctionsError(
          store.upsertApp({
            url: "ftp://x",
            appId: "a",
            sdk: null,
            framework: null,
            syncedAt: null,
            lastError: null,
          }),
          "invalid_input",
          /app\.url must be an http:\/\/ or https:\/\/ URL/,
        );
        expect(await store.listApps()).toEqual([]);
      });

      it("a huge output is refused with too_large and the run stays as it was, still held", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        const [held] = await store.claimDue(T0, "w", 60_000, 1);
        const huge = { blob: "x".repeat(MAX_VALUE_BYTES) };
        await expectFunctionsError(
          store.release(run.runId, "w", { status: "completed", now: T0 + 1, output: huge }),
          "too_large",
          /update\.output is \d+ bytes of JSON; at most 4194304 are allowed/,
        );
        expect(await store.getRun(run.runId)).toEqual(held);
        // Multi-byte characters count as UTF-8 bytes.
        await expectFunctionsError(
          store.release(run.runId, "w", {
            status: "completed",
            now: T0 + 1,
            output: "é".repeat(MAX_VALUE_BYTES / 2 + 1),
          }),
          "too_large",
          /update\.output/,
        );
        expect(
          await store.release(run.runId, "w", { status: "completed", now: T0 + 2, output: "ok" }),
        ).toBe(true);
      });

      it("one bad step among good ones stores none of them", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        await store.claimDue(T0, "w", 60_000, 1);
        const good = { stepId: "good", op: "StepRun", data: 1, error: null, attempts: 1 };
        await expectFunctionsError(
          store.saveSteps(run.runId, "w", [
            good,
            { ...good, stepId: "big", data: "x".repeat(MAX_VALUE_BYTES + 1) },
          ]),
          "too_large",
          /steps\[1\]\.data is/,
        );
        await expectFunctionsError(
          store.saveSteps(run.runId, "w", [
            good,
            { ...good, stepId: "nan", data: { n: Number.NaN } },
          ]),
          "invalid_input",
          /steps\[1\]\.data must be JSON .* NaN \(not a finite number\) at key "n"/,
        );
        await expectFunctionsError(
          store.saveSteps(run.runId, "w", [
            good,
            { ...good, stepId: "big", data: { n: 10n } as never },
          ]),
          "invalid_input",
          /steps\[1\]\.data must be JSON .* a bigint/,
        );
        const cycle: Record<string, unknown> = {};
        cycle.self = cycle;
        await expectFunctionsError(
          store.saveSteps(run.runId, "w", [good, { ...good, stepId: "cyc", data: cycle as never }]),
          "invalid_input",
          /steps\[1\]\.data must be JSON/,
        );
        await expectFunctionsError(
          store.saveSteps(run.runId, "w", [good, { ...good, stepId: "bad id" }]),
          "invalid_input",
          /steps\[1\]\.stepId must be/,
        );
        await expectFunctionsError(
          store.saveSteps(run.runId, "w", [good, { ...good, op: "drop table" }]),
          "invalid_input",
          /steps\[1\]\.op must be an op name/,
        );
        expect(await store.listSteps(run.runId)).toEqual([]);
      });

      it("refuses bad release updates and leaves the run held", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        const [held] = await store.claimDue(T0, "w", 60_000, 1);
        await expectFunctionsError(
          store.release(run.runId, "w", { status: "running" as never, now: T0 }),
          "invalid_input",
          /update\.status must be one of queued, completed, failed, cancelled, got "running"/,
        );
        await expectFunctionsError(
          store.release(run.runId, "w", { status: "completed", now: T0, dueAt: T0 }),
          "invalid_input",
          /update\.dueAt is only allowed with status "queued"/,
        );
        await expectFunctionsError(
          store.release(run.runId, "w", { status: "queued", now: T0, attempt: -1 }),
          "invalid_input",
          /update\.attempt must be an integer/,
        );
        expect(await store.getRun(run.runId)).toEqual(held);
      });

      it("refuses duplicate or malformed functions, storing none", async () => {
        const store = await open();
        const url = "http://127.0.0.1:3000/api/inngest";
        const appA = {
          url,
          appId: "a",
          sdk: null,
          framework: null,
          syncedAt: null,
          lastError: null,
        };
        const f = { id: "a-f", name: "F", config: {}, stepUrl: url };
        await expectFunctionsError(
          store.syncApp(appA, [f, f]),
          "invalid_input",
          /functions\[1\]\.id "a-f" appears twice/,
        );
        await expectFunctionsError(
          store.syncApp(appA, [f, { ...f, id: "a-g", stepUrl: "javascript:alert(1)" }]),
          "invalid_input",
          /functions\[1\]\.stepUrl must be an http/,
        );
        await expectFunctionsError(
          store.syncApp(appA, [f, { ...f, id: "a-h", name: "bad\u0000name" }]),
          "invalid_input",
          /functions\[1\]\.name must be/,
        );
        expect(await store.listFunctions()).toEqual([]);
        expect(await store.listApps()).toEqual([]);
      });
    });

    runBatchingConformance({
      open: () => open(),
      second,
      reopen: capabilities.sharedData ? () => open(true) : null,
      sharedData: capabilities.sharedData === true,
    });

    it("fails every call with `closed` after close()", async () => {
      const store = await open();
      await store.close();
      await expectFunctionsError(store.nextDueAt(), "closed", /closed/);
      await expectFunctionsError(create(store, 1), "closed", /closed/);
    });

    waitsConformance(open, second);

    if (capabilities.sharedData) {
      it("keeps runs, steps and functions across close and reopen", async () => {
        const store = await open();
        const { run } = await create(store, 1);
        await store.claimDue(T0, "w", 60_000, 1);
        await store.saveSteps(run.runId, "w", [
          { stepId: "s", op: "StepRun", data: [1], error: null, attempts: 1 },
        ]);
        await store.close();
        const again = await open(true);
        expect(await again.getRun(run.runId)).toMatchObject({ status: "running", leaseOwner: "w" });
        expect((await again.listSteps(run.runId)).map((s) => s.data)).toEqual([[1]]);
        expect((await create(again, 1)).created).toBe(false);
      });
    }
  });
}
