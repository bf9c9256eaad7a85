import { describe, expect, it } from "vitest";
import { FunctionsError } from "../errors";
import type { RunStore } from "../run-store";

/** What the conformance suite gives the flow-control cases. */
export interface FlowControlConformance {
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
 * Conformance cases of flow control: `takeRateLimit` (a sliding window per key) and
 * `reserveThrottle` (GCRA per key) and `debounceRun` (one pending run per function and key).
 */
export function flowControlConformance(c: FlowControlConformance): void {
  const T0 = c.t0;
  const take = (store: RunStore, n: number, now = T0, key = "r:k", limit = 2, periodMs = 60_000) =>
    store.takeRateLimit({ key, eventInternalId: c.event(n), limit, periodMs, now });

  describe("rate limits", () => {
    it("takes at most `limit` starts per key within the period, then again once they age out", async () => {
      const store = await c.open();
      expect(await take(store, 1)).toBe(true);
      expect(await take(store, 2, T0 + 10)).toBe(true);
      expect(await take(store, 3, T0 + 20)).toBe(false);
      // Another key has its own window.
      expect(await take(store, 4, T0 + 20, "r:other")).toBe(true);
      // The same event again (a retried request) keeps its start; a refused one stays refused.
      expect(await take(store, 1, T0 + 30)).toBe(true);
      expect(await take(store, 3, T0 + 30)).toBe(false);
      // Sliding: the first start ages out at T0 + 60 s, the second 10 ms later.
      expect(await take(store, 5, T0 + 60_000)).toBe(true);
      expect(await take(store, 6, T0 + 60_001)).toBe(false);
      expect(await take(store, 6, T0 + 60_010)).toBe(true);
    });

    it("never passes the limit when many take at once, from two handles", async () => {
      const store = await c.open();
      const other = await c.second(store);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          take(i % 2 === 0 ? store : other, 100 + i, T0, "r:race", 3),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(3);
    });

    it("refuses bad input with a FunctionsError naming the field", async () => {
      const store = await c.open();
      for (const [input, field] of [
        [{ key: "", eventInternalId: c.event(1), limit: 1, periodMs: 1000, now: T0 }, "key"],
        [{ key: "r:k", eventInternalId: c.event(1), limit: 0, periodMs: 1000, now: T0 }, "limit"],
        [{ key: "r:k", eventInternalId: c.event(1), limit: 1, periodMs: 0, now: T0 }, "periodMs"],
        [
          { key: "r:k", eventInternalId: "a b", limit: 1, periodMs: 1000, now: T0 },
          "eventInternalId",
        ],
        [{ key: "r:k", eventInternalId: c.event(1), limit: 1, periodMs: 1000, now: -1 }, "now"],
        [null, "object"],
      ] as const) {
        const error = await store
          .takeRateLimit(input as unknown as Parameters<RunStore["takeRateLimit"]>[0])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(FunctionsError);
        expect((error as FunctionsError).code).toBe("invalid_input");
        expect((error as Error).message).toContain(field);
      }
    });
  });

  describe("throttles", () => {
    const reserve = (
      store: RunStore,
      now: number,
      key = "t:k",
      limit = 2,
      burst = 0,
      periodMs = 2000,
    ) => store.reserveThrottle({ key, limit, burst, periodMs, now });

    it("spaces starts one period/limit apart per key, in reservation order; a key left idle starts at once", async () => {
      const store = await c.open();
      const starts: number[] = [];
      for (let i = 0; i < 5; i++) starts.push(await reserve(store, T0 + i));
      expect(starts).toEqual([T0, T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000]);
      expect(await reserve(store, T0, "t:other")).toBe(T0);
      // Long after the last reserved start: at once again.
      expect(await reserve(store, T0 + 60_000)).toBe(T0 + 60_000);
    });

    it("lets 1 + burst start at once, then one every period/limit: never more than limit + burst in a period", async () => {
      const store = await c.open();
      const starts: number[] = [];
      for (let i = 0; i < 6; i++) starts.push(await reserve(store, T0, "t:b", 2, 1, 6000));
      expect(starts).toEqual([T0, T0, T0 + 3000, T0 + 6000, T0 + 9000, T0 + 12000]);
      for (const s of starts) {
        expect(starts.filter((x) => x >= s && x < s + 6000).length).toBeLessThanOrEqual(3);
      }
    });

    it("gives distinct starts when many reserve at once, from two handles", async () => {
      const store = await c.open();
      const other = await c.second(store);
      const starts = await Promise.all(
        Array.from({ length: 12 }, (_, i) => reserve(i % 2 === 0 ? store : other, T0, "t:race")),
      );
      expect(starts.sort((x, y) => x - y)).toEqual(
        Array.from({ length: 12 }, (_, i) => T0 + i * 1000),
      );
    });

    it("refuses bad input with a FunctionsError naming the field", async () => {
      const store = await c.open();
      const ok = { key: "t:k", limit: 1, burst: 0, periodMs: 1000, now: T0 };
      for (const [input, field] of [
        [{ ...ok, key: "has space" }, "key"],
        [{ ...ok, limit: 0 }, "limit"],
        [{ ...ok, burst: -1 }, "burst"],
        [{ ...ok, periodMs: 1.5 }, "periodMs"],
        [{ ...ok, now: "now" }, "now"],
        [undefined, "object"],
      ] as const) {
        const error = await store
          .reserveThrottle(input as unknown as Parameters<RunStore["reserveThrottle"]>[0])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(FunctionsError);
        expect((error as Error).message).toContain(field);
      }
    });
  });

  describe("debounces", () => {
    const queued = (store: RunStore, n: number, fn = "db-app-f") =>
      store
        .createRun({
          functionId: fn,
          eventInternalId: c.event(n),
          env: "test",
          dueAt: T0 + 60_000,
          now: T0,
        })
        .then((r) => r.run.runId);
    const debounce = (
      store: RunStore,
      runId: string,
      now: number,
      key = "d:k",
      timeoutMs: number | null = 5000,
      fn = "db-app-f",
    ) => store.debounceRun({ functionId: fn, key, runId, periodMs: 1000, timeoutMs, now });

    it("keeps one pending run per key: each new one replaces (cancels) the last, due period after it, at most timeout after the first", async () => {
      const store = await c.open();
      const r1 = await queued(store, 1);
      expect(await debounce(store, r1, T0)).toEqual({ dueAt: T0 + 1000, replaced: null });
      const r2 = await queued(store, 2);
      expect(await debounce(store, r2, T0 + 300)).toEqual({ dueAt: T0 + 1300, replaced: r1 });
      expect((await store.getRun(r1))!.status).toBe("cancelled");
      expect((await store.getRun(r2))!).toMatchObject({ status: "queued", dueAt: T0 + 1300 });
      // The same run again changes nothing but its due time.
      expect(await debounce(store, r2, T0 + 300)).toEqual({ dueAt: T0 + 1300, replaced: null });
      // Capped by the timeout after the first event (T0 + 5 s).
      const r3 = await queued(store, 3);
      expect(await debounce(store, r3, T0 + 4500)).toEqual({ dueAt: T0 + 5000, replaced: r2 });
      // Another key, another function: their own pending runs.
      const r4 = await queued(store, 4);
      expect((await debounce(store, r4, T0, "d:other")).replaced).toBeNull();
      const r5 = await queued(store, 5, "db-app-g");
      expect((await debounce(store, r5, T0, "d:k", null, "db-app-g")).replaced).toBeNull();
      // Only the pending runs are due.
      const claimed = await store.claimDue(T0 + 10_000, "w", 30_000, 10);
      expect(claimed.map((r) => r.runId).sort()).toEqual([r3, r4, r5].sort());
    });

    it("opens a new debounce when the pending run already started", async () => {
      const store = await c.open();
      const r1 = await queued(store, 1);
      await debounce(store, r1, T0);
      expect(await store.claimDue(T0 + 1000, "w", 30_000, 1)).toHaveLength(1);
      const r2 = await queued(store, 2);
      expect(await debounce(store, r2, T0 + 4900)).toEqual({ dueAt: T0 + 5900, replaced: null });
      expect((await store.getRun(r1))!.status).toBe("running");
    });

    it("leaves exactly one pending run when many debounce at once, from two handles", async () => {
      const store = await c.open();
      const other = await c.second(store);
      const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => queued(store, 10 + i)));
      await Promise.all(ids.map((id, i) => debounce(i % 2 === 0 ? store : other, id, T0 + i)));
      const states = await Promise.all(ids.map(async (id) => (await store.getRun(id))!.status));
      expect(states.filter((x) => x === "queued")).toHaveLength(1);
      expect(states.filter((x) => x === "cancelled")).toHaveLength(7);
    });

    it("refuses bad input with a FunctionsError naming the field", async () => {
      const store = await c.open();
      const runId = await queued(store, 1);
      const ok = {
        functionId: "db-app-f",
        key: "d:k",
        runId,
        periodMs: 1000,
        timeoutMs: null,
        now: T0,
      };
      for (const [input, field] of [
        [{ ...ok, functionId: "" }, "functionId"],
        [{ ...ok, key: "a b" }, "key"],
        [{ ...ok, runId: "nope" }, "runId"],
        [{ ...ok, periodMs: 0 }, "periodMs"],
        [{ ...ok, timeoutMs: -5 }, "timeoutMs"],
        [{ ...ok, now: null }, "now"],
        [{ ...ok, runId: "01ARZ3NDEKTSV4RRFFQ69G5FAV" }, "queued"],
        [null, "object"],
      ] as const) {
        const error = await store
          .debounceRun(input as unknown as Parameters<RunStore["debounceRun"]>[0])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(FunctionsError);
        expect((error as Error).message).toContain(field);
      }
    });
  });
}
