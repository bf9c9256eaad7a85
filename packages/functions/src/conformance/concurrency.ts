import { describe, expect, it } from "vitest";
import { FunctionsError } from "../errors";
import type { JsonValue, RunRecord, RunStore } from "../run-store";

/** What the conformance suite gives the concurrency cases. */
export interface ConcurrencyConformance {
  /** A store on fresh data. */
  open(): Promise<RunStore>;
  /** Another handle on the same data (another pool) when the driver has one, else `store`. */
  second(store: RunStore): Promise<RunStore>;
  /** A valid event internal id for `n`. */
  event(n: number): string;
  /** The suite's clock origin. */
  t0: number;
}

/**
 * Conformance cases of concurrency limits: runs created with slots are claimed only while
 * each slot has fewer runs in flight (running, lease live) than its function's limit.
 */
export function concurrencyConformance(c: ConcurrencyConformance): void {
  const T0 = c.t0;
  const app = {
    url: "http://127.0.0.1:3000/api/inngest",
    appId: "cc-app",
    sdk: "js:v4.24.0",
    framework: "nodejs",
    syncedAt: T0,
    lastError: null,
  };
  /** Register `fns` (id -> concurrency config) as the app's functions. */
  const sync = (store: RunStore, fns: Record<string, JsonValue>) =>
    store.syncApp(
      app,
      Object.entries(fns).map(([id, concurrency]) => ({
        id,
        name: id,
        config: { triggers: [{ event: "cc/go" }], concurrency },
        stepUrl: `${app.url}?fnId=${id}&stepId=step`,
      })),
    );
  const create = (
    store: RunStore,
    n: number,
    functionId: string,
    keys: string[] = [],
    dueAt = T0,
  ) =>
    store
      .createRun({
        functionId,
        eventInternalId: c.event(n),
        env: "test",
        dueAt,
        now: T0,
        ...(keys.length > 0 ? { concurrency: keys.map((key, idx) => ({ idx, key })) } : {}),
      })
      .then((r) => r.run);
  const ids = (runs: RunRecord[]) => runs.map((r) => r.runId).sort();

  describe("concurrency limits", () => {
    it("stores a run's slots with it; bad slots are refused", async () => {
      const store = await c.open();
      const run = await create(store, 1, "cc-app-a", ["k1", "k2"]);
      expect(await store.listConcurrencySlots(run.runId)).toEqual([
        { idx: 0, key: "k1" },
        { idx: 1, key: "k2" },
      ]);
      const plain = await create(store, 2, "cc-app-a");
      expect(await store.listConcurrencySlots(plain.runId)).toEqual([]);
      for (const concurrency of [
        [{ idx: 2, key: "k" }],
        [{ idx: 0, key: "" }],
        [
          { idx: 0, key: "a" },
          { idx: 0, key: "b" },
        ],
        "k",
      ]) {
        const error = await store
          .createRun({
            functionId: "cc-app-a",
            eventInternalId: c.event(3),
            env: "test",
            dueAt: T0,
            concurrency: concurrency as never,
          })
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(FunctionsError);
        expect((error as FunctionsError).code).toBe("invalid_input");
        expect((error as FunctionsError).message).toMatch(/concurrency/);
      }
      // Created held, a run would skip the claim that applies the limits.
      const leased = await store
        .createRun({
          functionId: "cc-app-a",
          eventInternalId: c.event(4),
          env: "test",
          dueAt: T0,
          now: T0,
          lease: { owner: "w", leaseMs: 1_000 },
          concurrency: [{ idx: 0, key: "k" }],
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect((leased as FunctionsError).code).toBe("invalid_input");
      expect((leased as FunctionsError).message).toMatch(/without a lease/);
      expect(await store.listRunsForEvent(c.event(4))).toEqual([]);
    });

    it("claims at most the limit of one slot and fills the batch with other due runs", async () => {
      const store = await c.open();
      await sync(store, { "cc-app-a": 2, "cc-app-b": null });
      const limited = [];
      for (let n = 0; n < 5; n++) limited.push(await create(store, n, "cc-app-a", ["fn-a"]));
      for (let n = 5; n < 8; n++) await create(store, n, "cc-app-b");
      const first = await store.claimDue(T0, "w", 60_000, 10);
      expect(first.filter((r) => r.functionId === "cc-app-a")).toHaveLength(2);
      expect(first.filter((r) => r.functionId === "cc-app-b")).toHaveLength(3);
      // The slot is full: the three left wait, with no error and nothing claimed.
      expect(await store.claimDue(T0 + 1, "w", 60_000, 10)).toEqual([]);
      // Earliest first: the two claimed are the two created first.
      expect(ids(first.filter((r) => r.functionId === "cc-app-a"))).toEqual(
        ids(limited.slice(0, 2)),
      );
    });

    it("applies the limit per key value: one key at its limit does not hold back another", async () => {
      const store = await c.open();
      await sync(store, { "cc-app-a": { limit: 1, key: "event.data.user" } });
      const a1 = await create(store, 1, "cc-app-a", ["user-a"]);
      const a2 = await create(store, 2, "cc-app-a", ["user-a"]);
      const b1 = await create(store, 3, "cc-app-a", ["user-b"]);
      const first = await store.claimDue(T0, "w", 60_000, 10);
      expect(ids(first)).toEqual(ids([a1, b1]));
      // A finished run frees its slot.
      expect(await store.release(a1.runId, "w", { status: "completed", now: T0 + 5 })).toBe(true);
      expect(ids(await store.claimDue(T0 + 6, "w", 60_000, 10))).toEqual([a2.runId]);
    });

    it("a sleeping or retry-waiting run holds no slot; a cancelled one frees it; a replayed one takes it again", async () => {
      const store = await c.open();
      await sync(store, { "cc-app-a": 1 });
      const r1 = await create(store, 1, "cc-app-a", ["s"]);
      const r2 = await create(store, 2, "cc-app-a", ["s"]);
      expect(ids(await store.claimDue(T0, "w", 60_000, 10))).toEqual([r1.runId]);
      // r1 sleeps until T0 + 1000: r2 may run.
      await store.release(r1.runId, "w", { status: "queued", now: T0 + 1, dueAt: T0 + 1_000 });
      expect(ids(await store.claimDue(T0 + 2, "w", 60_000, 10))).toEqual([r2.runId]);
      // r1 is due again, but r2 holds the slot.
      expect(await store.claimDue(T0 + 1_000, "w", 60_000, 10)).toEqual([]);
      expect(await store.cancelRun(r2.runId, T0 + 1_001)).toBe(true);
      expect(ids(await store.claimDue(T0 + 1_002, "w", 60_000, 10))).toEqual([r1.runId]);
      await store.release(r1.runId, "w", { status: "failed", now: T0 + 1_003 });
      // Replayed, r2 is limited again: r3 takes the slot first, r2 waits for it.
      const r3 = await create(store, 3, "cc-app-a", ["s"], T0 + 1_004);
      expect(ids(await store.claimDue(T0 + 1_004, "w", 60_000, 10))).toEqual([r3.runId]);
      expect(await store.replayRun(r2.runId, T0 + 1_005)).not.toBeNull();
      expect(await store.listConcurrencySlots(r2.runId)).toEqual([{ idx: 0, key: "s" }]);
      expect(await store.claimDue(T0 + 1_006, "w", 60_000, 10)).toEqual([]);
    });

    it("a lease that runs out frees its slot (a killed claimer holds nothing)", async () => {
      const store = await c.open();
      await sync(store, { "cc-app-a": 1 });
      await create(store, 1, "cc-app-a", ["s"]);
      await create(store, 2, "cc-app-a", ["s"]);
      expect(await store.claimDue(T0, "dead", 1_000, 10)).toHaveLength(1);
      expect(await store.claimDue(T0 + 999, "w", 60_000, 10)).toEqual([]);
      // The lease ran out at T0 + 1000: exactly one run is claimed again, never two.
      const again = await store.claimDue(T0 + 2_000, "w", 60_000, 10);
      expect(again).toHaveLength(1);
      expect(await store.claimDue(T0 + 2_001, "w", 60_000, 10)).toEqual([]);
    });

    it("two limits of a run both apply, and a re-sync's limit applies to runs not yet claimed", async () => {
      const store = await c.open();
      await sync(store, { "cc-app-a": [{ limit: 3 }, { limit: 1, key: "event.data.user" }] });
      for (let n = 0; n < 4; n++) await create(store, n, "cc-app-a", ["fn", "u1"]);
      for (let n = 4; n < 8; n++) await create(store, n, "cc-app-a", ["fn", `u${n}`]);
      // One of u1 (its key), then the function's limit of 3.
      const first = await store.claimDue(T0, "w", 60_000, 10);
      expect(first).toHaveLength(3);
      expect(await store.claimDue(T0 + 1, "w", 60_000, 10)).toEqual([]);
      await sync(store, { "cc-app-a": [{ limit: 10 }, { limit: 1, key: "event.data.user" }] });
      // Now only the key limits hold: u5, u6, u7 whichever were left, none more of u1.
      const more = await store.claimDue(T0 + 2, "w", 60_000, 10);
      const all = [...first, ...more];
      expect(all).toHaveLength(5);
      // A limit removed by a re-sync no longer holds runs back.
      await sync(store, { "cc-app-a": null });
      expect(await store.claimDue(T0 + 3, "w", 60_000, 10)).toHaveLength(3);
    });

    it("claimers racing on one slot (two handles) never pass its limit", async () => {
      const store = await c.open();
      const other = await c.second(store);
      await sync(store, { "cc-app-a": 3 });
      for (let n = 0; n < 30; n++) await create(store, n, "cc-app-a", ["race"]);
      const claims: Promise<RunRecord[]>[] = [];
      for (let i = 0; i < 12; i++) {
        const s = i % 2 === 0 ? store : other;
        claims.push(s.claimDue(T0 + i, `w${i}`, 60_000, 5));
      }
      const claimed = (await Promise.all(claims)).flat();
      expect(claimed).toHaveLength(3);
      expect(new Set(claimed.map((r) => r.runId)).size).toBe(3);
    });
  });
}
