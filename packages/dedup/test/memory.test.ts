import { createMemoryStore, DedupError } from "@evt/dedup";
import { runDedupConformance } from "@evt/dedup/testing";
import { describe, expect, it } from "vitest";

runDedupConformance("memory", async () => createMemoryStore(), { sharedAcrossInstances: false });

describe("memory store", () => {
  it("refuses new keys at maxKeys (retryable full, nothing claimed) and never forgets a live key", async () => {
    const s = createMemoryStore({ maxKeys: 3 });
    const day = 86_400_000;
    await s.claim(
      ["a", "b", "c"].map((key) => ({ key, value: key })),
      day,
    );
    const err = await s.claim([{ key: "d", value: "d" }], day).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DedupError);
    expect((err as DedupError).code).toBe("full");
    expect((err as DedupError).retryable).toBe(true);
    expect((err as DedupError).message).toMatch(
      /holds 3 live keys \(maxKeys 3\).*nothing was claimed/,
    );
    // a claim mixing held and new keys is refused as a whole: "b" is not touched, "e" not added
    await expect(
      s.claim(
        [
          { key: "b", value: "x" },
          { key: "e", value: "e" },
        ],
        day,
      ),
    ).rejects.toThrow(/cannot take 1 more/);
    // every live key still answers duplicate: none was evicted to make room
    expect(
      await s.claim(
        ["a", "b", "c"].map((key) => ({ key, value: "x" })),
        day,
      ),
    ).toEqual([
      { fresh: false, value: "a" },
      { fresh: false, value: "b" },
      { fresh: false, value: "c" },
    ]);
    // a release makes room again
    await s.release([{ key: "a", value: "a" }]);
    expect(await s.claim([{ key: "d", value: "d" }], day)).toEqual([{ fresh: true }]);
  });

  it("makes room by dropping expired keys before it refuses", async () => {
    let t = 0;
    const s = createMemoryStore({ maxKeys: 100, now: () => t });
    for (let i = 0; i < 100; i++) await s.claim([{ key: `old${i}`, value: "v" }], 1_000);
    await expect(s.claim([{ key: "new0", value: "v" }], 1_000)).rejects.toThrow(DedupError);
    t = 1_000; // every old key expires now
    const fresh = await s.claim(
      Array.from({ length: 100 }, (_, i) => ({ key: `new${i}`, value: "v" })),
      1_000_000,
    );
    expect(fresh.every((r) => r.fresh)).toBe(true);
    // the 100 new keys are live: an expired old key may not come back in their place
    await expect(s.claim([{ key: "old5", value: "w" }], 1_000)).rejects.toThrow(/maxKeys 100/);
    expect(await s.claim([{ key: "new7", value: "w" }], 1_000)).toEqual([
      { fresh: false, value: "v" },
    ]);
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
