import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { DedupError } from "./errors.js";
import type { ClaimEntry, ClaimResult, DedupStore } from "./types.js";

/** Optional behaviours a driver declares; the suite skips by flag, never by driver name. */
export interface DedupCapabilities {
  /**
   * Two stores made by the factory share their keys (same server, file or table). When false
   * (e.g. the memory store), the concurrency case runs its claimers against one store instead.
   * @default true
   */
  sharedAcrossInstances?: boolean;
  /** How many independent stores claim the same keys at once in the concurrency case. @default 8 */
  concurrentInstances?: number;
  /** Keys each of them claims. @default 10_000 */
  concurrentKeys?: number;
  /** Window used by the expiry case; the case waits this plus `expiryMarginMs`. @default 150 */
  expiryTtlMs?: number;
  /** Extra wait after the window before expecting the key to be free again. @default 250 */
  expiryMarginMs?: number;
}

const DAY = 86_400_000;

/**
 * The conformance suite every `DedupStore` passes. Call it at the top level of a vitest file;
 * `factory` returns a new store each time, all sharing one backend (the suite makes its keys
 * unique per run, so a shared server is fine). Stores are closed after each case.
 *
 * @example
 * ```ts
 * // test/my-driver.test.ts
 * import { runDedupConformance } from "@evt/dedup/testing";
 * import { createMyStore } from "../src/index.js";
 *
 * runDedupConformance("my-driver", async () => createMyStore({ url: process.env.MY_URL! }));
 * ```
 */
export function runDedupConformance(
  name: string,
  factory: () => Promise<DedupStore>,
  capabilities: DedupCapabilities = {},
): void {
  const shared = capabilities.sharedAcrossInstances ?? true;
  const instances = capabilities.concurrentInstances ?? 8;
  const concurrentKeys = capabilities.concurrentKeys ?? 10_000;
  const ttl = capabilities.expiryTtlMs ?? 150;
  const margin = capabilities.expiryMarginMs ?? 250;

  describe(`DedupStore conformance: ${name}`, () => {
    const open: DedupStore[] = [];
    const make = async () => {
      const s = await factory();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    /** A key prefix no other case or run uses. */
    const fresh = () => `t-${randomUUID()}:`;

    it("answers fresh, then duplicate with the first claimer's value", async () => {
      const s = await make();
      const k = `${fresh()}a`;
      expect(s.driver).toMatch(/\S/);
      expect(await s.claim([{ key: k, value: "first" }], DAY)).toEqual([{ fresh: true }]);
      expect(await s.claim([{ key: k, value: "second" }], DAY)).toEqual([
        { fresh: false, value: "first" },
      ]);
      expect(await s.claim([{ key: k, value: "first" }], DAY)).toEqual([
        { fresh: false, value: "first" },
      ]);
    });

    it("keeps the order of a mixed batch, and values like '' and '0' exactly", async () => {
      const s = await make();
      const p = fresh();
      await s.claim(
        [
          { key: `${p}b`, value: "vb" },
          { key: `${p}e`, value: "" },
          { key: `${p}z`, value: "0" },
        ],
        DAY,
      );
      const out = await s.claim(
        [
          { key: `${p}a`, value: "1" },
          { key: `${p}b`, value: "2" },
          { key: `${p}c`, value: "3" },
          { key: `${p}e`, value: "4" },
          { key: `${p}z`, value: "5" },
        ],
        DAY,
      );
      expect(out).toEqual([
        { fresh: true },
        { fresh: false, value: "vb" },
        { fresh: true },
        { fresh: false, value: "" },
        { fresh: false, value: "0" },
      ]);
    });

    it("frees a key after its window", async () => {
      const s = await make();
      const k = `${fresh()}exp`;
      expect(await s.claim([{ key: k, value: "old" }], ttl)).toEqual([{ fresh: true }]);
      await new Promise((r) => setTimeout(r, ttl + margin));
      expect(await s.claim([{ key: k, value: "new" }], DAY)).toEqual([{ fresh: true }]);
      expect(await s.claim([{ key: k, value: "newer" }], DAY)).toEqual([
        { fresh: false, value: "new" },
      ]);
    });

    it("treats a repeated key in one batch as a duplicate of its first entry", async () => {
      const s = await make();
      const p = fresh();
      const out = await s.claim(
        [
          { key: `${p}x`, value: "v1" },
          { key: `${p}y`, value: "v2" },
          { key: `${p}x`, value: "v3" },
          { key: `${p}x`, value: "v4" },
        ],
        DAY,
      );
      expect(out).toEqual([
        { fresh: true },
        { fresh: true },
        { fresh: false, value: "v1" },
        { fresh: false, value: "v1" },
      ]);
      const held = await s.claim(
        [
          { key: `${p}y`, value: "w1" },
          { key: `${p}y`, value: "w2" },
        ],
        DAY,
      );
      expect(held).toEqual([
        { fresh: false, value: "v2" },
        { fresh: false, value: "v2" },
      ]);
    });

    it("answers an empty batch with an empty array", async () => {
      const s = await make();
      expect(await s.claim([], DAY)).toEqual([]);
      await s.release([]);
    });

    it("claims a batch of 10,000 keys", async () => {
      const s = await make();
      const p = fresh();
      const batch = Array.from({ length: 10_000 }, (_, i) => ({ key: `${p}${i}`, value: `v${i}` }));
      const first = await s.claim(batch, DAY);
      expect(first).toHaveLength(10_000);
      expect(first.every((r) => r.fresh)).toBe(true);
      const again = await s.claim(
        batch.map((e) => ({ key: e.key, value: "other" })),
        DAY,
      );
      expect(again).toEqual(batch.map((e) => ({ fresh: false, value: e.value })));
    });

    it("keeps unicode, NUL-separated and long keys distinct and exact", async () => {
      const s = await make();
      const p = fresh();
      const long = `${p}${"k".repeat(300)}`;
      const keys = [
        `${p}prod\u0000order-1`,
        `${p}prod\u0000order-2`,
        `${p}staging\u0000order-1`,
        `${p}émoji-🎉-漢字-עברית`,
        `${p}e\u0301`, // e + combining accent (NFD)
        `${p}\u00e9`, // é precomposed (NFC): a different key
        `${p}A`,
        `${p}a`,
        `${p}a `,
        `${p}${"x".repeat(256)}`,
        `${long}1`,
        `${long}2`,
        `${p}${"🎉".repeat(200)}`,
      ];
      const entries = keys.map((key, i) => ({ key, value: `値-${i}-🎉\u0000end` }));
      expect(new Set(keys).size).toBe(keys.length);
      expect((await s.claim(entries, DAY)).every((r) => r.fresh)).toBe(true);
      const again = await s.claim(
        keys.map((key) => ({ key, value: "x" })),
        DAY,
      );
      expect(again).toEqual(entries.map((e) => ({ fresh: false, value: e.value })));
    });

    it("releases a key only while it holds the given value", async () => {
      const s = await make();
      const p = fresh();
      await s.claim(
        [
          { key: `${p}r`, value: "mine" },
          { key: `${p}q`, value: "kept" },
        ],
        DAY,
      );
      await s.release([
        { key: `${p}r`, value: "not-mine" },
        { key: `${p}missing`, value: "x" },
      ]);
      expect(await s.claim([{ key: `${p}r`, value: "z" }], DAY)).toEqual([
        { fresh: false, value: "mine" },
      ]);
      await s.release([{ key: `${p}r`, value: "mine" }]);
      expect(
        await s.claim(
          [
            { key: `${p}r`, value: "again" },
            { key: `${p}q`, value: "z" },
          ],
          DAY,
        ),
      ).toEqual([{ fresh: true }, { fresh: false, value: "kept" }]);
    });

    it("rejects bad input with an error naming the field and the rule", async () => {
      const s = await make();
      const ok = { key: `${fresh()}ok`, value: "v" };
      const bad: [unknown, unknown, RegExp][] = [
        [[ok], 0, /ttlMs must be a positive integer/],
        [[ok], 1.5, /ttlMs must be a positive integer/],
        [[ok], Number.NaN, /ttlMs must be a positive integer/],
        [[ok, { key: "", value: "v" }], DAY, /entries\[1\]\.key must not be empty/],
        [[ok, { key: 42, value: "v" }], DAY, /entries\[1\]\.key must be a string, got number/],
        [
          [{ key: "k".repeat(513), value: "v" }],
          DAY,
          /entries\[0\]\.key is 513 characters long; at most 512/,
        ],
        [
          [{ key: "a\ud800", value: "v" }],
          DAY,
          /entries\[0\]\.key contains a lone UTF-16 surrogate/,
        ],
        [[{ key: "k", value: null }], DAY, /entries\[0\]\.value must be a string, got null/],
        [[null], DAY, /entries\[0\] must be an object/],
      ];
      for (const [entries, ttlMs, message] of bad) {
        const err = await s
          .claim(entries as ClaimEntry[], ttlMs as number)
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DedupError);
        expect((err as DedupError).code).toBe("invalid_argument");
        expect((err as DedupError).retryable).toBe(false);
        expect((err as Error).message).toMatch(/^\[evt\/dedup\] /);
        expect((err as Error).message).toMatch(message);
      }
      // nothing of a rejected batch was claimed
      expect(await s.claim([ok], DAY)).toEqual([{ fresh: true }]);
    });

    it("pings, closes twice, and rejects use after close", async () => {
      const s = await make();
      await s.ping();
      await s.close();
      await s.close();
      const err = await s.claim([{ key: `${fresh()}c`, value: "v" }], DAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect((err as DedupError).code).toBe("closed");
    });

    it(`lets exactly one of ${instances} concurrent claimers win each of ${concurrentKeys} keys`, async () => {
      const first = await make();
      const stores = shared
        ? [first, ...(await Promise.all(Array.from({ length: instances - 1 }, make)))]
        : Array.from({ length: instances }, () => first);
      await Promise.all(stores.map((s) => s.ping()));
      const p = fresh();
      const keys = Array.from({ length: concurrentKeys }, (_, i) => `${p}${i}`);
      const results: ClaimResult[][] = await Promise.all(
        stores.map((s, n) => {
          // each claimer walks the keys in its own order: rotated, every other one reversed
          const rotated = keys.map((_, i) => (i + n * 1237) % keys.length);
          const order = n % 2 === 1 ? rotated.reverse() : rotated;
          return s
            .claim(
              order.map((i) => ({ key: keys[i]!, value: `w${n}` })),
              DAY,
            )
            .then((rs) => {
              const byKey = new Array<ClaimResult>(keys.length);
              order.forEach((i, j) => {
                byKey[i] = rs[j]!;
              });
              return byKey;
            });
        }),
      );
      let freshTotal = 0;
      const problems: string[] = [];
      for (let k = 0; k < keys.length; k++) {
        const winners = results.flatMap((rs, n) => (rs[k]!.fresh ? [n] : []));
        freshTotal += winners.length;
        if (winners.length !== 1) problems.push(`key ${k}: ${winners.length} fresh answers`);
        for (const rs of results) {
          const r = rs[k]!;
          if (!r.fresh && r.value !== `w${winners[0]}`) {
            problems.push(`key ${k}: duplicate carries ${r.value}, winner was w${winners[0]}`);
          }
        }
      }
      expect(problems.slice(0, 5)).toEqual([]);
      expect(freshTotal).toBe(concurrentKeys);
    });
  });
}
