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
 * `reserveThrottle` (GCRA per key).
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
}
