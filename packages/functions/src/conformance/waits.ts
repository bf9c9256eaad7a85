import { describe, expect, it } from "vitest";
import { FunctionsError } from "../errors";
import type { RunStore, WaitInput } from "../run-store";

const T0 = 1_750_000_000_000;

/**
 * Conformance cases of the waits (`waitRun`, `resolveWait`, `listWaits`, `listWaitsSince`,
 * `countWaits`), called by `runRunStoreConformance` with its `open` (a fresh store) and
 * `second` (another handle on the same data, or the same store).
 */
export function waitsConformance(
  open: () => Promise<RunStore>,
  second: (store: RunStore) => Promise<RunStore>,
): void {
  let n = 0;
  const eventId = () =>
    `01WAIT${String(++n).padStart(8, "0")}${Math.random().toString(36).slice(2, 6)}`;
  const wait = (stepId: string, expiresAt: number, event = "app/paid"): WaitInput => ({
    stepId,
    kind: "event",
    event,
    expression: 'async.data.id == "u1"',
    expiresAt,
  });

  /** A run claimed by `w`, with one memoized step. */
  async function claimed(store: RunStore) {
    const { run } = await store.createRun({
      functionId: "app-fn",
      eventInternalId: eventId(),
      env: "test",
      dueAt: T0,
      now: T0,
    });
    const [got] = await store.claimDue(T0, "w", 60_000, 1);
    expect(got?.runId).toBe(run.runId);
    expect(
      await store.saveSteps(run.runId, "w", [
        { stepId: "first", op: "StepRun", data: 1, error: null, attempts: 1 },
      ]),
    ).toBe(true);
    return run;
  }

  describe("waits", () => {
    it("waitRun stores the waits and queues the run until the first timeout", async () => {
      const store = await open();
      const run = await claimed(store);
      const before = await store.listWaitsSince(0, [], 100);
      const ok = await store.waitRun(run.runId, "w", {
        waits: [wait("b", T0 + 9_000), wait("a", T0 + 5_000, "app/other")],
        now: T0 + 10,
        stepsSeen: 1,
      });
      expect(ok).toBe(true);
      expect(await store.getRun(run.runId)).toMatchObject({
        status: "queued",
        dueAt: T0 + 5_000,
        leaseOwner: null,
        attempt: 0,
      });
      const waits = await store.listWaits(run.runId);
      expect(
        waits.map((w) => [w.stepId, w.event, w.expiresAt, w.createdAt, w.env, w.kind]),
      ).toEqual([
        ["a", "app/other", T0 + 5_000, T0 + 10, "test", "event"],
        ["b", "app/paid", T0 + 9_000, T0 + 10, "test", "event"],
      ]);
      expect(waits[0]!.expression).toBe('async.data.id == "u1"');
      expect(await store.countWaits()).toBe(before.length + 2);
      expect(await store.claimDue(T0 + 4_999, "w", 60_000, 10)).toEqual([]);
      // Claimed at the timeout: recording the same wait again keeps the first one.
      const [again] = await store.claimDue(T0 + 5_000, "w", 60_000, 10);
      expect(again?.runId).toBe(run.runId);
      const seqs = waits.map((w) => w.seq);
      expect(
        await store.waitRun(run.runId, "w", {
          waits: [wait("b", T0 + 99_000)],
          now: T0 + 5_000,
          stepsSeen: 1,
        }),
      ).toBe(true);
      const kept = await store.listWaits(run.runId);
      expect(kept.map((w) => w.seq)).toEqual(seqs);
      expect(kept[1]!.expiresAt).toBe(T0 + 9_000);
    });

    it("waitRun answers false (nothing stored) without the lease; dueBy and a newer step make it due sooner", async () => {
      const store = await open();
      const run = await claimed(store);
      expect(
        await store.waitRun(run.runId, "other", {
          waits: [wait("a", T0 + 5_000)],
          now: T0,
          stepsSeen: 1,
        }),
      ).toBe(false);
      expect(await store.listWaits(run.runId)).toEqual([]);
      expect(
        await store.waitRun(run.runId, "w", {
          waits: [wait("a", T0 + 5_000)],
          now: T0,
          stepsSeen: 1,
          dueBy: T0 + 1_000,
        }),
      ).toBe(true);
      expect((await store.getRun(run.runId))?.dueAt).toBe(T0 + 1_000);
      const [c] = await store.claimDue(T0 + 1_000, "w", 60_000, 1);
      expect(c?.runId).toBe(run.runId);
      // The caller saw 0 steps, the run has 1: something resolved meanwhile, call it now.
      expect(
        await store.waitRun(run.runId, "w", {
          waits: [wait("a", T0 + 5_000)],
          now: T0 + 1_001,
          stepsSeen: 0,
        }),
      ).toBe(true);
      expect((await store.getRun(run.runId))?.dueAt).toBe(T0 + 1_001);
    });

    it("waitRun with hold stores the waits and keeps the run held; a second call releases it", async () => {
      const store = await open();
      const run = await claimed(store);
      expect(
        await store.waitRun(run.runId, "w", {
          waits: [wait("a", T0 + 5_000)],
          now: T0,
          stepsSeen: 1,
          hold: true,
        }),
      ).toBe(true);
      expect(await store.getRun(run.runId)).toMatchObject({ status: "running", leaseOwner: "w" });
      expect(await store.listWaits(run.runId)).toHaveLength(1);
      // Resolved while held (a fast child): memoized, and the release makes it due now.
      expect(
        await store.resolveWait(
          run.runId,
          "a",
          { op: "InvokeFunction", data: 7, error: null },
          T0 + 1,
        ),
      ).toBe(true);
      expect(
        await store.waitRun(run.runId, "w", {
          waits: [wait("a", T0 + 5_000)],
          now: T0 + 2,
          stepsSeen: 1,
        }),
      ).toBe(true);
      expect(await store.getRun(run.runId)).toMatchObject({ status: "queued", dueAt: T0 + 2 });
      // The resolved step does not wait again.
      expect(await store.listWaits(run.runId)).toEqual([]);
      expect((await store.listSteps(run.runId)).map((s) => s.data)).toEqual([1, 7]);
    });

    it("resolveWait resolves once: deletes the wait, memoizes the step, makes the run due now", async () => {
      const store = await open();
      const other = await second(store);
      const run = await claimed(store);
      await store.waitRun(run.runId, "w", {
        waits: [wait("a", T0 + 50_000)],
        now: T0,
        stepsSeen: 1,
      });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? other : store).resolveWait(
            run.runId,
            "a",
            { op: "WaitForEvent", data: { name: "app/paid", n: i }, error: null },
            T0 + 100 + i,
          ),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.listWaits(run.runId)).toEqual([]);
      const steps = await store.listSteps(run.runId);
      expect(steps.map((s) => [s.stepId, s.op])).toEqual([
        ["first", "StepRun"],
        ["a", "WaitForEvent"],
      ]);
      const winner = results.indexOf(true);
      expect(steps[1]!.data).toEqual({ name: "app/paid", n: winner });
      expect(await store.getRun(run.runId)).toMatchObject({
        status: "queued",
        dueAt: T0 + 100 + winner,
      });
      expect(
        await store.resolveWait(
          run.runId,
          "a",
          { op: "WaitForEvent", data: null, error: null },
          T0,
        ),
      ).toBe(false);
    });

    it("a timeout memoizes an error; a resolve of a running run keeps its lease", async () => {
      const store = await open();
      const run = await claimed(store);
      await store.waitRun(run.runId, "w", {
        waits: [wait("a", T0 + 1_000)],
        now: T0,
        stepsSeen: 1,
      });
      const [c] = await store.claimDue(T0 + 1_000, "w", 60_000, 1);
      expect(c?.status).toBe("running");
      expect(
        await store.resolveWait(
          run.runId,
          "a",
          { op: "InvokeFunction", data: null, error: { name: "Error", message: "timed out" } },
          T0 + 1_000,
        ),
      ).toBe(true);
      expect(await store.getRun(run.runId)).toMatchObject({ status: "running", leaseOwner: "w" });
      expect((await store.listSteps(run.runId))[1]).toMatchObject({
        op: "InvokeFunction",
        data: null,
        error: { name: "Error", message: "timed out" },
      });
    });

    it("cancelRun and replayRun delete the run's waits; a wait of a finished run resolves nothing", async () => {
      const store = await open();
      const run = await claimed(store);
      await store.waitRun(run.runId, "w", {
        waits: [wait("a", T0 + 1_000)],
        now: T0,
        stepsSeen: 1,
      });
      expect(await store.cancelRun(run.runId, T0 + 5)).toBe(true);
      expect(await store.listWaits(run.runId)).toEqual([]);
      expect(
        await store.resolveWait(run.runId, "a", { op: "WaitForEvent", data: 1, error: null }, T0),
      ).toBe(false);
      expect(await store.replayRun(run.runId, T0 + 10)).not.toBeNull();
      const [c] = await store.claimDue(T0 + 10, "w", 60_000, 1);
      expect(c?.runId).toBe(run.runId);
      await store.waitRun(run.runId, "w", {
        waits: [wait("a", T0 + 1_000)],
        now: T0 + 11,
        stepsSeen: 0,
      });
      expect(await store.listWaits(run.runId)).toHaveLength(1);
    });

    it("listWaitsSince reads new waits by seq, and skipped seqs again", async () => {
      const store = await open();
      const reader = await second(store);
      const start = await reader.listWaitsSince(0, [], 10_000);
      const cursor = start.length === 0 ? 0 : start[start.length - 1]!.seq;
      const runs = [await claimed(store), await claimed(store), await claimed(store)];
      for (const [i, r] of runs.entries()) {
        await store.waitRun(r.runId, "w", {
          waits: [wait(`s${i}`, T0 + 1_000 + i)],
          now: T0,
          stepsSeen: 1,
        });
      }
      const all = await reader.listWaitsSince(cursor, [], 100);
      expect(all.map((w) => w.runId)).toEqual(runs.map((r) => r.runId));
      expect(all[0]!.seq).toBeGreaterThan(cursor);
      expect(all[1]!.seq).toBeGreaterThan(all[0]!.seq);
      expect(all[2]!.seq).toBeGreaterThan(all[1]!.seq);
      const first = await reader.listWaitsSince(cursor, [], 1);
      expect(first.map((w) => w.seq)).toEqual([all[0]!.seq]);
      const back = await reader.listWaitsSince(all[2]!.seq, [all[0]!.seq, all[0]!.seq + 1e9], 100);
      expect(back.map((w) => w.seq)).toEqual([all[0]!.seq]);
      // Resolved waits are gone from the listing.
      await store.resolveWait(
        runs[1]!.runId,
        "s1",
        { op: "WaitForEvent", data: null, error: null },
        T0,
      );
      expect((await reader.listWaitsSince(cursor, [], 100)).map((w) => w.stepId)).toEqual([
        "s0",
        "s2",
      ]);
    });

    it("refuses bad input with a clear error", async () => {
      const store = await open();
      const run = await claimed(store);
      const bad = async (p: Promise<unknown>, message: RegExp) => {
        const error = await p.then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(FunctionsError);
        expect((error as FunctionsError).code).toBe("invalid_input");
        expect((error as Error).message).toMatch(message);
      };
      await bad(
        store.waitRun(run.runId, "w", { waits: [], now: T0, stepsSeen: 0 }),
        /1 to 100 waits/,
      );
      await bad(
        store.waitRun(run.runId, "w", {
          waits: [{ ...wait("a", T0), kind: "nope" as never }],
          now: T0,
          stepsSeen: 0,
        }),
        /kind must be "event" or "invoke"/,
      );
      await bad(
        store.waitRun(run.runId, "w", { waits: [wait("a", -1)], now: T0, stepsSeen: 0 }),
        /expiresAt must be a time/,
      );
      await bad(
        store.waitRun(run.runId, "w", { waits: [wait("a", T0, "")], now: T0, stepsSeen: 0 }),
        /event must be an event name/,
      );
      await bad(
        store.resolveWait("nope", "a", { op: "WaitForEvent", data: null, error: null }, T0),
        /ULID/,
      );
      await bad(store.listWaitsSince(-1, [], 10), /afterSeq/);
      expect(await store.listWaits(run.runId)).toEqual([]);
    });
  });
}
