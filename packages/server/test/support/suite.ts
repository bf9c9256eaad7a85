import { type ClaimEntry, DedupError, type DedupStore } from "@evt/dedup";
import { createEventIdSeed, deriveEventIds, parseEventIdSeed } from "@evt/schema";
import { createEventApi, type EventApi, type EventApiOptions } from "@evt/server";
import { type EventStore, StoreError } from "@evt/store";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DriverCombo, Stores } from "./drivers.js";
import { get, send, sleep } from "./http.js";

/** Ids the server must derive from a seed header for `n` events. */
function seededIds(seed: string, n: number): string[] {
  return deriveEventIds(parseEventIdSeed(seed)!, n);
}

/** Wraps a real event store; the next `fail.append` appends (or `fail.has` lookups) reject. */
function faultyStore(inner: EventStore) {
  const fail = { append: 0, has: 0 };
  const calls = { append: 0 };
  const store: EventStore = {
    driver: inner.driver,
    append(events) {
      calls.append++;
      if (fail.append > 0) {
        fail.append--;
        return Promise.reject(
          new StoreError(inner.driver, "unavailable", "injected fault: append"),
        );
      }
      return inner.append(events);
    },
    has(ids, env) {
      if (fail.has > 0) {
        fail.has--;
        return Promise.reject(new StoreError(inner.driver, "unavailable", "injected fault: has"));
      }
      return inner.has(ids, env);
    },
    get: (id, env) => inner.get(id, env),
    list: (q) => inner.list(q),
    deleteReceivedBefore: (c) => inner.deleteReceivedBefore(c),
    listEnvs: () => inner.listEnvs(),
    ping: () => inner.ping(),
    close: async () => {},
  };
  return { store, fail, calls };
}

/** Wraps a real dedup store; the next `fail.claim` claims (or `fail.release`) reject. */
function faultyDedup(inner: DedupStore) {
  const fail = { claim: 0, release: 0 };
  const dedup: DedupStore = {
    driver: inner.driver,
    claim(entries, ttl) {
      if (fail.claim > 0) {
        fail.claim--;
        return Promise.reject(
          new DedupError("unavailable", "injected fault: claim", { driver: inner.driver }),
        );
      }
      return inner.claim(entries, ttl);
    },
    release(entries: readonly ClaimEntry[]) {
      if (fail.release > 0) {
        fail.release--;
        return Promise.reject(
          new DedupError("unavailable", "injected fault: release", { driver: inner.driver }),
        );
      }
      return inner.release(entries);
    },
    ping: () => inner.ping(),
    close: async () => {},
  };
  return { dedup, fail };
}

/**
 * The Event API behaviours that depend on the stores, written once and run per driver
 * combination (memory, SQLite, Redis dedup + PostgreSQL store).
 */
export function ingestSuite(combo: DriverCombo, tag: string): void {
  describe(`Event API on ${combo.name}`, () => {
    let stores: Stores;
    let api: EventApi;
    let faults: { store: ReturnType<typeof faultyStore>; dedup: ReturnType<typeof faultyDedup> };
    const opened: Stores[] = [];

    function build(extra: Partial<EventApiOptions> = {}): EventApi {
      faults = { store: faultyStore(stores.store), dedup: faultyDedup(stores.dedup) };
      return createEventApi({ dedup: faults.dedup.dedup, store: faults.store.store, ...extra });
    }

    async function count(env = "production", name?: string): Promise<number> {
      const q = new URLSearchParams({ env, limit: "1000" });
      if (name) q.set("name", name);
      const res = await get(api, `/v1/events?${q}`);
      expect(res.status).toBe(200);
      return res.json.data.length;
    }

    beforeEach(async () => {
      stores = await combo.create(tag);
      opened.push(stores);
      api = build();
    });
    afterEach(async () => {
      await api.close();
    });
    afterAll(async () => {
      for (const s of opened) await s.close();
    });

    it("stores one event and returns it by id with every field", async () => {
      const at = Date.now();
      const res = await send(api, {
        name: "user.signup",
        data: { userId: "u1", plan: { tier: "pro" } },
        user: { email: "a@example.com" },
        id: "signup-u1",
        ts: 1_700_000_000_000,
        v: "2024-01-14.1",
        unknownField: true,
      });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ ids: [expect.any(String)], status: 200 });
      const got = await get(api, `/v1/events/${res.json.ids[0]}`);
      expect(got.status).toBe(200);
      expect(got.json.data).toMatchObject({
        internal_id: res.json.ids[0],
        id: "signup-u1",
        name: "user.signup",
        data: { userId: "u1", plan: { tier: "pro" } },
        user: { email: "a@example.com" },
        ts: 1_700_000_000_000,
        v: "2024-01-14.1",
        env: "production",
      });
      expect(got.json.data.received_at).toBeGreaterThanOrEqual(at - 1000);
      expect(got.json.data).not.toHaveProperty("unknownField");
    });

    it("defaults data to {} and ts to the receive time", async () => {
      const res = await send(api, { name: "ping" });
      const got = await get(api, `/v1/events/${res.json.ids[0]}`);
      expect(got.json.data.data).toEqual({});
      expect(got.json.data.user).toBeNull();
      expect(got.json.data.ts).toBe(got.json.data.received_at);
    });

    it("stores a batch with distinct ids, listed newest first", async () => {
      const batch = Array.from({ length: 25 }, (_, i) => ({ name: "batch.item", data: { i } }));
      const res = await send(api, batch);
      expect(res.status).toBe(200);
      expect(new Set(res.json.ids).size).toBe(25);
      const list = await get(api, "/v1/events?name=batch.item&limit=10");
      expect(list.json.data).toHaveLength(10);
      expect(typeof list.json.cursor).toBe("string");
      const page2 = await get(
        api,
        `/v1/events?name=batch.item&limit=10&cursor=${encodeURIComponent(list.json.cursor)}`,
      );
      expect(page2.json.data).toHaveLength(10);
      const seen = new Set(
        [...list.json.data, ...page2.json.data].map((e: { internal_id: string }) => e.internal_id),
      );
      expect(seen.size).toBe(20);
      for (const id of seen) expect(res.json.ids).toContain(id);
    });

    it("answers an empty array with no ids and stores nothing", async () => {
      const res = await send(api, []);
      expect(res.json).toEqual({ ids: [], status: 200 });
      expect(await count()).toBe(0);
    });

    it("ignores a duplicate id across requests and answers the first internal id", async () => {
      const first = await send(api, { name: "order.paid", id: "order-1", data: { n: 1 } });
      const second = await send(api, { name: "order.refunded", id: "order-1", data: { n: 2 } });
      expect(second.status).toBe(200);
      expect(second.json.ids).toEqual(first.json.ids);
      expect(await count()).toBe(1);
      const got = await get(api, `/v1/events/${first.json.ids[0]}`);
      expect(got.json.data.data).toEqual({ n: 1 });
    });

    it("ignores a duplicate id within one request", async () => {
      const res = await send(api, [
        { name: "a", id: "dup-1" },
        { name: "b", id: "dup-1" },
        { name: "c", id: "dup-2" },
        { name: "d" },
        { name: "e", id: "dup-2" },
      ]);
      expect(res.status).toBe(200);
      const [a, b, c, d, e] = res.json.ids;
      expect(b).toBe(a);
      expect(e).toBe(c);
      expect(new Set([a, c, d]).size).toBe(3);
      expect(await count()).toBe(3);
    });

    it("scopes dedup and reads per environment", async () => {
      const prod = await send(api, { name: "x", id: "same-id" });
      const branch = await send(api, { name: "x", id: "same-id" }, { env: "feature/login-1" });
      expect(branch.json.ids[0]).not.toBe(prod.json.ids[0]);
      expect(await count("production")).toBe(1);
      expect(await count("feature/login-1")).toBe(1);
      // The x-evt-env alias selects the same environment.
      const alias = await send(
        api,
        { name: "x", id: "same-id" },
        { headers: { "x-evt-env": "feature/login-1" } },
      );
      expect(alias.json.ids).toEqual(branch.json.ids);
      // An event is visible only in its own environment.
      expect((await get(api, `/v1/events/${branch.json.ids[0]}`)).status).toBe(404);
      const inBranch = await get(api, `/v1/events/${branch.json.ids[0]}?env=feature/login-1`);
      expect(inBranch.json.data.env).toBe("feature/login-1");
      const viaHeader = await get(api, `/v1/events/${branch.json.ids[0]}`, {
        "x-inngest-env": "feature/login-1",
      });
      expect(viaHeader.status).toBe(200);
    });

    it("lists the environments holding events on GET /v1/envs, by name, with counts", async () => {
      let clock = Date.parse("2026-12-02T12:00:00.000Z");
      api = build({ now: () => clock });
      expect((await get(api, "/v1/envs")).json).toEqual({ data: [] });
      await send(api, [{ name: "a" }, { name: "b", id: "dup" }]);
      await send(api, { name: "b", id: "dup" }); // a duplicate: not counted
      clock += 1500;
      await send(api, { name: "c" }, { env: "feature/login-1" });
      await send(api, { name: "d" }, { env: "Feature-0" });
      const res = await get(api, "/v1/envs");
      expect(res.status).toBe(200);
      expect(res.json).toStrictEqual({
        data: [
          { env: "Feature-0", events: 1, last_received_at: "2026-12-02T12:00:01.500Z" },
          { env: "feature/login-1", events: 1, last_received_at: "2026-12-02T12:00:01.500Z" },
          { env: "production", events: 2, last_received_at: "2026-12-02T12:00:00.000Z" },
        ],
      });
    });

    it("accepts the same id again once the dedup window has passed", async () => {
      await api.close();
      api = build({ dedupWindowMs: 150 });
      const first = await send(api, { name: "w", id: "window-1" });
      const within = await send(api, { name: "w", id: "window-1" });
      expect(within.json.ids).toEqual(first.json.ids);
      await sleep(400);
      const after = await send(api, { name: "w", id: "window-1" });
      expect(after.json.ids[0]).not.toBe(first.json.ids[0]);
      expect(await count()).toBe(2);
    });

    it("derives ids from the seed header, so a retried request stores nothing twice", async () => {
      const seed = createEventIdSeed();
      const batch = [{ name: "s.1" }, { name: "s.2", id: "with-id" }, { name: "s.3" }];
      const first = await send(api, batch, { seed });
      expect(first.json.ids).toEqual(seededIds(seed, 3));
      const retry = await send(api, batch, { seed });
      expect(retry.json.ids).toEqual(first.json.ids);
      expect(await count()).toBe(3);
      // Without a seed, id-less events are new events every time.
      await send(api, [{ name: "s.1" }]);
      await send(api, [{ name: "s.1" }]);
      expect(await count()).toBe(5);
    });

    it("ignores a malformed seed and uses fresh ids", async () => {
      const res = await send(api, [{ name: "m" }], { seed: "not-a-seed" });
      expect(res.status).toBe(200);
      expect(res.json.ids[0]).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    });

    it("stores concurrent copies of one request once", async () => {
      const seed = createEventIdSeed();
      const batch = [{ name: "c.1", id: "conc-1" }, { name: "c.2" }];
      const answers = await Promise.all([1, 2, 3, 4].map(() => send(api, batch, { seed })));
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.json.ids).toEqual(seededIds(seed, 2));
      }
      expect(await count()).toBe(2);
    });

    describe("atomicity under injected faults", () => {
      it("answers 503 when append fails, stores nothing, and a retry stores once with the same ids", async () => {
        const seed = createEventIdSeed();
        const batch = [{ name: "f.1", id: "fault-1" }, { name: "f.2" }];
        faults.store.fail.append = 1;
        const failed = await send(api, batch, { seed });
        expect(failed.status).toBe(503);
        expect(failed.headers["retry-after"]).toBe("1");
        expect(failed.json).toMatchObject({
          ids: [],
          status: 503,
          error: expect.stringContaining("retry"),
        });
        expect(await count()).toBe(0);
        const retry = await send(api, batch, { seed });
        expect(retry.status).toBe(200);
        expect(retry.json.ids).toEqual(seededIds(seed, 2));
        expect(await count()).toBe(2);
      });

      it("recovers when both append and release fail: the retry adopts the claimed ids", async () => {
        const seed = createEventIdSeed();
        const batch = [{ name: "g.1", id: "fault-2" }, { name: "g.2" }];
        faults.store.fail.append = 1;
        faults.dedup.fail.release = 1;
        expect((await send(api, batch, { seed })).status).toBe(503);
        expect(await count()).toBe(0);
        const retry = await send(api, batch, { seed });
        expect(retry.status).toBe(200);
        expect(retry.json.ids).toEqual(seededIds(seed, 2));
        const again = await send(api, batch, { seed });
        expect(again.json.ids).toEqual(seededIds(seed, 2));
        expect(await count()).toBe(2);
        const got = await get(api, `/v1/events/${seededIds(seed, 2)[0]}`);
        expect(got.json.data).toMatchObject({ id: "fault-2", name: "g.1" });
      });

      it("adopts a stranded claim even when the retry carries a different seed", async () => {
        const firstSeed = createEventIdSeed();
        faults.store.fail.append = 1;
        faults.dedup.fail.release = 1;
        expect((await send(api, { name: "h", id: "fault-3" }, { seed: firstSeed })).status).toBe(
          503,
        );
        const retry = await send(api, { name: "h", id: "fault-3" }, { seed: createEventIdSeed() });
        expect(retry.json.ids).toEqual(seededIds(firstSeed, 1));
        expect(await count()).toBe(1);
      });

      it("adopts the claim of a process that crashed between claim and append", async () => {
        // What a crashed process leaves behind: the claim, and no event.
        const orphan = seededIds(createEventIdSeed(), 1)[0]!;
        await stores.dedup.claim([{ key: "production\u0000crash-1", value: orphan }], 60_000);
        const res = await send(api, { name: "crash", id: "crash-1" });
        expect(res.json.ids).toEqual([orphan]);
        expect((await get(api, `/v1/events/${orphan}`)).json.data.name).toBe("crash");
        expect(await count()).toBe(1);
      });

      it("answers 503 and releases the claims when the duplicate lookup fails", async () => {
        const first = await send(api, { name: "k", id: "fault-4" });
        faults.store.fail.has = 1;
        const failed = await send(api, [
          { name: "k", id: "fault-4" },
          { name: "k2", id: "fault-5" },
        ]);
        expect(failed.status).toBe(503);
        // fault-5 was released: a later request stores it; fault-4 still answers the first id.
        const retry = await send(api, [
          { name: "k", id: "fault-4" },
          { name: "k2", id: "fault-5" },
        ]);
        expect(retry.json.ids[0]).toBe(first.json.ids[0]);
        expect(await count()).toBe(2);
      });

      it("answers 503 when the dedup store is unavailable and stores nothing", async () => {
        faults.dedup.fail.claim = 1;
        const res = await send(api, { name: "d", id: "fault-6" });
        expect(res.status).toBe(503);
        expect(res.headers["retry-after"]).toBe("1");
        expect(faults.store.calls.append).toBe(0);
        expect(await count()).toBe(0);
        expect((await send(api, { name: "d", id: "fault-6" })).status).toBe(200);
        expect(await count()).toBe(1);
      });
    });

    it("reports ready when both stores answer", async () => {
      expect(await api.ready()).toBe(true);
      const res = await get(api, "/ready");
      expect(res.json).toEqual({ status: 200, message: "OK" });
    });
  });
}
