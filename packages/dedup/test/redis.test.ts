import { randomUUID } from "node:crypto";
import { createRedisStore, DedupError } from "@evt/dedup";
import { runDedupConformance } from "@evt/dedup/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startProxy } from "./helpers/proxy.js";
import { expectEveryCallUnavailable } from "./helpers/unavailable.js";

const url = process.env.EVT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `evt-test:dedup-redis:${randomUUID()}:`;
const DAY = 86_400_000;

// A generous timeout: the concurrency case sends 8 x 10,000 keys at once on a shared machine.
runDedupConformance("redis", async () => createRedisStore({ url, prefix, timeoutMs: 30_000 }));

describe("redis store", () => {
  const admin = new Redis(url);
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 1000) await admin.del(...keys.slice(i, i + 1000));
    await admin.quit();
  });

  it("stores keys under the prefix with the TTL, and prefixes keep tenants apart", async () => {
    const a = createRedisStore({ url, prefix: `${prefix}a:` });
    const b = createRedisStore({ url, prefix: `${prefix}b:` });
    try {
      expect(await a.claim([{ key: "env\u0000id", value: "va" }], 60_000)).toEqual([
        { fresh: true },
      ]);
      expect(await b.claim([{ key: "env\u0000id", value: "vb" }], 60_000)).toEqual([
        { fresh: true },
      ]);
      expect(await admin.get(`${prefix}a:\u0000env\u0000id`)).toBe("va");
      const pttl = await admin.pttl(`${prefix}a:\u0000env\u0000id`);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(60_000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("nested prefixes cannot collide (a NUL follows the prefix)", async () => {
    // Without a separator, prefix "a:" + key "b:x" and prefix "a:b:" + key "x" are one Redis key.
    const outer = createRedisStore({ url, prefix: `${prefix}n:` });
    const inner = createRedisStore({ url, prefix: `${prefix}n:b:` });
    try {
      expect(await outer.claim([{ key: "b:x", value: "outer" }], 60_000)).toEqual([
        { fresh: true },
      ]);
      expect(await inner.claim([{ key: "x", value: "inner" }], 60_000)).toEqual([{ fresh: true }]);
    } finally {
      await outer.close();
      await inner.close();
    }
  });

  it("refuses a prefix holding NUL", () => {
    expect(() => createRedisStore({ url, prefix: "a\u0000b" })).toThrow(/without NUL/);
  });

  it("uses a given client and leaves it open on close", async () => {
    const client = new Redis(url);
    const s = createRedisStore({ client, prefix });
    expect(await s.claim([{ key: `own-${randomUUID()}`, value: "v" }], DAY)).toEqual([
      { fresh: true },
    ]);
    await s.close();
    expect(await client.ping()).toBe("PONG");
    await client.quit();
  });

  it("rejects with a retryable DedupError when nothing listens", async () => {
    const s = createRedisStore({ url: "redis://127.0.0.1:1", prefix, timeoutMs: 300 });
    await expectEveryCallUnavailable(s, "redis");
  });

  it("rejects a batch cut off mid-request, applies none of it later, and recovers", async () => {
    const target = new URL(url);
    const proxy = await startProxy(target.hostname, Number(target.port || 6379));
    const s = createRedisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix, timeoutMs: 1500 });
    try {
      await s.ping();
      const batch = Array.from({ length: 100 }, (_, i) => ({
        key: `cut-${randomUUID()}-${i}`,
        value: "v",
      }));
      proxy.cut = "request";
      const err = await s.claim(batch, DAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect(err).toMatchObject({ code: "unavailable", retryable: true });
      proxy.cut = false;
      // the store reconnects by itself; the cut batch was never applied (nor resent)
      let out: unknown;
      for (let attempt = 0; attempt < 20; attempt++) {
        out = await s.claim(batch, DAY).catch((e: unknown) => e);
        if (!(out instanceof DedupError)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).toEqual(batch.map(() => ({ fresh: true })));
    } finally {
      await s.close();
      await proxy.close();
    }
  });

  it("rejects a batch whose reply is lost; a retry with the same values shows it as its own", async () => {
    const target = new URL(url);
    const proxy = await startProxy(target.hostname, Number(target.port || 6379));
    const s = createRedisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix, timeoutMs: 1500 });
    try {
      // a first claim loads the script, so the cut below hits the batch itself, not a NOSCRIPT
      await s.claim([{ key: `warm-${randomUUID()}`, value: "v" }], DAY);
      const batch = Array.from({ length: 50 }, (_, i) => ({
        key: `lost-${randomUUID()}-${i}`,
        value: `mine-${i}`,
      }));
      proxy.cut = "reply";
      const err = await s.claim(batch, DAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect(err).toMatchObject({ code: "unavailable", retryable: true });
      proxy.cut = false;
      let out: unknown;
      for (let attempt = 0; attempt < 20; attempt++) {
        out = await s.claim(batch, DAY).catch((e: unknown) => e);
        if (!(out instanceof DedupError)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // the lost batch did run: every key now answers duplicate carrying the caller's own value
      expect(out).toEqual(batch.map((e) => ({ fresh: false, value: e.value })));
    } finally {
      await s.close();
      await proxy.close();
    }
  });

  it("requires exactly one of url or client", () => {
    expect(() => createRedisStore({})).toThrow(/exactly one of options.url or options.client/);
  });
});
