import { createMemoryStore, DedupError } from "@evt/dedup";
import { runDedupConformance } from "@evt/dedup/testing";
import { describe, expect, it } from "vitest";

runDedupConformance("memory", async () => createMemoryStore(), { sharedAcrossInstances: false });

describe("memory store", () => {
  it("evicts the oldest-inserted key first when maxKeys is reached", async () => {
    const s = createMemoryStore({ maxKeys: 3 });
    const day = 86_400_000;
    await s.claim(
      ["a", "b", "c"].map((key) => ({ key, value: key })),
      day,
    );
    expect(await s.claim([{ key: "d", value: "d" }], day)).toEqual([{ fresh: true }]);
    // "a" was evicted, "b".."d" are still held
    expect(
      await s.claim(
        ["b", "c", "d"].map((key) => ({ key, value: "x" })),
        day,
      ),
    ).toEqual([
      { fresh: false, value: "b" },
      { fresh: false, value: "c" },
      { fresh: false, value: "d" },
    ]);
    expect(await s.claim([{ key: "a", value: "a2" }], day)).toEqual([{ fresh: true }]);
    // claiming "a" again evicted "b", the oldest now
    expect(await s.claim([{ key: "b", value: "b2" }], day)).toEqual([{ fresh: true }]);
  });

  it("keeps exactly the newest maxKeys keys through long runs of evictions, releases and takeovers", async () => {
    let t = 0;
    const s = createMemoryStore({ maxKeys: 100, now: () => t });
    const live: string[] = []; // insertion order of held keys, as the eviction rule predicts
    for (let i = 0; i < 2_000; i++) {
      const key = `k${i}`;
      await s.claim([{ key, value: key }], 1_000_000);
      live.push(key);
      if (live.length > 100) live.shift();
      if (i % 7 === 0 && live.length > 10) {
        // release one in the middle: it leaves the order without being evicted
        const [gone] = live.splice(5, 1);
        await s.release([{ key: gone!, value: gone! }]);
      }
    }
    t = 10; // nothing expired yet: all held keys answer duplicate, all others fresh
    const held = await s.claim(
      live.map((key) => ({ key, value: "x" })),
      1_000_000,
    );
    expect(held).toEqual(live.map((key) => ({ fresh: false, value: key })));
    const before = `k${2_000 - 100 - 50}`;
    expect(live).not.toContain(before);
    expect(await s.claim([{ key: before, value: "again" }], 1_000_000)).toEqual([{ fresh: true }]);
  });

  it("treats a key as free from the moment its window ends (injected clock)", async () => {
    let t = 1_000;
    const s = createMemoryStore({ maxKeys: 2, now: () => t });
    await s.claim([{ key: "a", value: "1" }], 100);
    await s.claim([{ key: "b", value: "2" }], 10_000);
    t = 1_100; // "a" expires exactly now
    expect(await s.claim([{ key: "a", value: "3" }], 100)).toEqual([{ fresh: true }]);
    expect(await s.claim([{ key: "b", value: "4" }], 100)).toEqual([{ fresh: false, value: "2" }]);
  });

  it("rejects a bad maxKeys", () => {
    expect(() => createMemoryStore({ maxKeys: 0 })).toThrow(DedupError);
    expect(() => createMemoryStore({ maxKeys: 0 })).toThrow(/maxKeys must be a positive integer/);
  });
});
