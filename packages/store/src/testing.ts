import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreError } from "./errors";
import type { EventStore, ListQuery, StoredEvent } from "./types";

/**
 * Optional abilities of a driver; the suite runs the matching cases only when the flag is
 * set (never by driver name).
 */
export interface StoreCapabilities {
  /** Calling the factory again opens the same data (a file, a database): durability is tested. */
  persistent?: boolean;
  /** Keys of `data`/`user` come back in the order given (PostgreSQL jsonb sorts them). */
  keyOrder?: boolean;
  /** Strings in `data`/`user` may contain U+0000 (PostgreSQL jsonb rejects it). */
  nulCharacter?: boolean;
}

/** A factory of fresh store handles; for a persistent driver every handle opens the same data. */
export type StoreFactory = () => EventStore | Promise<EventStore>;

/** A realistic receive time; events of the suite are received after it (retention uses older). */
const BASE = 1_750_000_000_000;
const run = Math.random().toString(36).slice(2, 8).toUpperCase();
let counter = 0;

/** A fresh environment name, so cases never see each other's events in a shared database. */
function freshEnv(): string {
  counter += 1;
  return `conformance-${run}-${counter}`;
}

/** Sortable internal id: `n` orders ids like ULIDs order by time. */
function iid(n: number): string {
  return `01T${run}${String(n).padStart(12, "0")}`;
}

function event(env: string, n: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    internal_id: iid(n),
    id: null,
    name: "test/created",
    data: { n },
    user: null,
    ts: BASE + n,
    v: null,
    env,
    received_at: BASE + n,
    source: null,
    source_id: null,
    ...over,
  };
}

async function listAll(store: EventStore, query: Omit<ListQuery, "cursor">) {
  const out: StoredEvent[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await store.list({ ...query, cursor });
    out.push(...page.events);
    cursor = page.cursor;
    pages += 1;
    if (pages > 10_000) throw new Error("list never ended: the cursor does not advance");
  } while (cursor !== null);
  return { events: out, pages };
}

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => {
      throw new Error("expected the call to reject with a StoreError, it resolved");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

/**
 * The behaviour every {@link EventStore} driver must have, as vitest cases. Call it once from
 * a driver's test file; add driver-specific cases beside it.
 *
 * @example
 * ```ts
 * import { createMemoryStore } from "@evt/store/memory";
 * import { runStoreConformance } from "@evt/store/testing";
 *
 * runStoreConformance("memory", async () => createMemoryStore());
 * ```
 */
export function runStoreConformance(
  name: string,
  factory: StoreFactory,
  capabilities: StoreCapabilities = {},
): void {
  describe(`EventStore conformance: ${name}`, () => {
    let store: EventStore;
    let env: string;

    beforeEach(async () => {
      store = await factory();
      env = freshEnv();
    });

    afterEach(async () => {
      await store.close();
    });

    it("names its driver and answers ping", async () => {
      expect(typeof store.driver).toBe("string");
      expect(store.driver.length).toBeGreaterThan(0);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it("returns an appended event from get, field for field", async () => {
      const e = event(env, 1, {
        id: "dedup-1",
        v: "2024-01-14.1",
        user: { external_id: "u1" },
        ts: BASE - 5,
      });
      await store.append([e]);
      expect(await store.get(e.internal_id, env)).toStrictEqual(e);
    });

    it("stores where an event came from (source, source_id) and reads it back from get and list", async () => {
      const hook = event(env, 1, { source: "webhook", source_id: "wh_01J0" });
      const cron = event(env, 2, { source: "cron" });
      const fn = event(env, 3, { source: "function", source_id: "01RUN" });
      await store.append([hook, cron, fn]);
      expect(await store.get(hook.internal_id, env)).toStrictEqual(hook);
      expect(await store.get(cron.internal_id, env)).toMatchObject({
        source: "cron",
        source_id: null,
      });
      const { events } = await listAll(store, { env, limit: 10 });
      expect(events.map((e) => [e.source, e.source_id])).toEqual([
        ["function", "01RUN"],
        ["cron", null],
        ["webhook", "wh_01J0"],
      ]);
    });

    it("reads source and source_id back as null when an append leaves them out", async () => {
      const { source: _s, source_id: _i, ...old } = event(env, 1);
      await store.append([old as StoredEvent]);
      expect(await store.get(iid(1), env)).toMatchObject({ source: null, source_id: null });
    });

    it("rejects a source that is not one of the known ones, naming the field and what is allowed", async () => {
      const bad = event(env, 2, { source: "admin" as StoredEvent["source"] });
      const error = await rejection(store.append([event(env, 1), bad]));
      expect(error.code).toBe("invalid_input");
      expect(error.message).toContain("events[1].source");
      expect(error.message).toContain('"api", "webhook", "function", "cron", "evt"');
      const badId = event(env, 3, { source_id: 7 as unknown as string });
      expect((await rejection(store.append([badId]))).message).toContain("events[0].source_id");
      expect(await store.has([iid(1), iid(2), iid(3)], env)).toEqual(new Set());
    });

    it("get is null for an unknown id and for the same id in another environment", async () => {
      const e = event(env, 1);
      await store.append([e]);
      expect(await store.get(iid(2), env)).toBeNull();
      expect(await store.get(e.internal_id, `${env}-other`)).toBeNull();
    });

    it("keeps one row per (env, internal_id): the first append wins, no error", async () => {
      await store.append([event(env, 1, { data: { first: true } })]);
      await store.append([event(env, 1, { data: { first: false }, name: "test/other" })]);
      await store.append([
        event(env, 2, { data: { first: true } }),
        event(env, 2, { data: { first: false } }),
      ]);
      expect((await store.get(iid(1), env))?.data).toEqual({ first: true });
      expect((await store.get(iid(1), env))?.name).toBe("test/created");
      expect((await store.get(iid(2), env))?.data).toEqual({ first: true });
      const { events } = await listAll(store, { env, limit: 10 });
      expect(events.map((e) => e.internal_id)).toEqual([iid(2), iid(1)]);
    });

    it("stores the same internal_id separately per environment", async () => {
      await store.append([event(env, 1, { data: { where: "a" } })]);
      await store.append([event(`${env}-b`, 1, { data: { where: "b" } })]);
      expect((await store.get(iid(1), env))?.data).toEqual({ where: "a" });
      expect((await store.get(iid(1), `${env}-b`))?.data).toEqual({ where: "b" });
    });

    it("stores all events of a call or none: a bad event in the middle stores nothing", async () => {
      const bad = event(env, 2, { data: { big: 10n } as unknown as Record<string, unknown> });
      const error = await rejection(store.append([event(env, 1), bad, event(env, 3)]));
      expect(error.code).toBe("invalid_input");
      expect(error.retryable).toBe(false);
      expect(error.message).toContain("events[1].data");
      expect(await store.has([iid(1), iid(2), iid(3)], env)).toEqual(new Set());
    });

    it("rejects malformed events with a message naming the field", async () => {
      const bad = { ...event(env, 1), received_at: "yesterday" } as unknown as StoredEvent;
      const error = await rejection(store.append([event(env, 0), bad]));
      expect(error.code).toBe("invalid_input");
      expect(error.message).toMatch(/^\[evt\/store\] \[[a-z]+\] /);
      expect(error.message).toContain("events[1].received_at");
      expect(error.message).toContain("integer");
      expect(await store.get(iid(0), env)).toBeNull();
    });

    it("accepts an empty append as a no-op", async () => {
      await expect(store.append([])).resolves.toBeUndefined();
      expect((await store.list({ env, limit: 10 })).events).toEqual([]);
    });

    it("has() tells which ids are stored in the environment", async () => {
      await store.append([event(env, 1), event(env, 3)]);
      await store.append([event(`${env}-other`, 2)]);
      expect(await store.has([iid(1), iid(2), iid(3), iid(4)], env)).toEqual(
        new Set([iid(1), iid(3)]),
      );
      expect(await store.has([], env)).toEqual(new Set());
      const many = Array.from({ length: 1000 }, (_, i) => iid(i + 10));
      await store.append(many.slice(0, 500).map((_, i) => event(env, i + 10)));
      expect((await store.has(many, env)).size).toBe(500);
    });

    it("lists newest first by received_at, then internal_id, with name/since/until filters", async () => {
      const a = event(env, 1, { received_at: BASE + 10, name: "a" });
      const b = event(env, 2, { received_at: BASE + 20, name: "b" });
      const c = event(env, 3, { received_at: BASE + 20, name: "a" });
      const d = event(env, 4, { received_at: BASE + 5, name: "b" });
      await store.append([a, b, c, d]);
      const ids = async (q: Partial<ListQuery>) =>
        (await store.list({ env, limit: 100, ...q })).events.map((e) => e.internal_id);
      expect(await ids({})).toEqual([c, b, a, d].map((e) => e.internal_id));
      expect(await ids({ name: "a" })).toEqual([c, a].map((e) => e.internal_id));
      expect(await ids({ name: "zzz" })).toEqual([]);
      expect(await ids({ since: BASE + 10 })).toEqual([c, b, a].map((e) => e.internal_id));
      expect(await ids({ until: BASE + 20 })).toEqual([a, d].map((e) => e.internal_id));
      expect(await ids({ since: BASE + 6, until: BASE + 20.5, name: "b" })).toEqual([
        b.internal_id,
      ]);
      expect(await ids({ limit: 2 })).toEqual([c, b].map((e) => e.internal_id));
      const page = await store.list({ env, limit: 4 });
      expect(page.cursor).toBeNull();
      expect((await store.list({ env: `${env}-empty`, limit: 5 })).events).toEqual([]);
    });

    it("pages through 2,500 events with the cursor, without gaps or repeats", async () => {
      const all: StoredEvent[] = [];
      for (let i = 0; i < 2500; i++) {
        // Groups of 7 share a received_at, so the internal_id tie-break is exercised at page edges.
        all.push(event(env, i, { received_at: BASE + Math.floor(i / 7), name: i % 3 ? "x" : "y" }));
      }
      const shuffled = all.slice().sort((p, q) => ((p.ts * 7919) % 2500) - ((q.ts * 7919) % 2500));
      for (let i = 0; i < shuffled.length; i += 500) await store.append(shuffled.slice(i, i + 500));
      const expected = all.map((e) => e.internal_id).reverse();
      const { events, pages } = await listAll(store, { env, limit: 300 });
      expect(pages).toBe(9);
      expect(events.map((e) => e.internal_id)).toEqual(expected);
      expect(events[17]).toStrictEqual(all[2500 - 18]);
      const ys = await listAll(store, { env, limit: 97, name: "y" });
      expect(ys.events.map((e) => e.internal_id)).toEqual(
        all
          .filter((e) => e.name === "y")
          .map((e) => e.internal_id)
          .reverse(),
      );
      const max = await listAll(store, { env, limit: 1000 });
      expect(max.pages).toBe(3);
      expect(max.events).toHaveLength(2500);
    });

    it("rejects a malformed cursor with invalid_cursor", async () => {
      await store.append([event(env, 1), event(env, 2)]);
      const page = await store.list({ env, limit: 1 });
      expect(page.cursor).toEqual(expect.any(String));
      const bad = [
        "not a cursor!",
        "%%%",
        Buffer.from("hello").toString("base64url"),
        Buffer.from("12x.abc").toString("base64url"),
        Buffer.from("123.").toString("base64url"),
        `${page.cursor}=`,
        "",
      ];
      for (const cursor of bad) {
        const error = await rejection(store.list({ env, limit: 1, cursor }));
        expect(error.code).toBe("invalid_cursor");
        expect(error.retryable).toBe(false);
        expect(error.message).toContain("cursor");
      }
    });

    it("stops a page at maxBytes and returns the cursor of the rest, never splitting an event", async () => {
      // Each event is ~10 kB of JSON, so 35 kB holds exactly 3 whatever the driver's estimate.
      const blob = "x".repeat(10_000);
      const all = Array.from({ length: 10 }, (_, i) => event(env, i, { data: { blob, i } }));
      await store.append(all);
      const sizes: number[] = [];
      const { events, pages } = await (async () => {
        const out: StoredEvent[] = [];
        let cursor: string | null = null;
        let n = 0;
        do {
          const page = await store.list({ env, limit: 1000, maxBytes: 35_000, cursor });
          sizes.push(page.events.length);
          out.push(...page.events);
          cursor = page.cursor;
          n += 1;
        } while (cursor !== null && n < 100);
        return { events: out, pages: n };
      })();
      expect(sizes).toEqual([3, 3, 3, 1]);
      expect(pages).toBe(4);
      expect(events).toStrictEqual(all.slice().reverse());
      // A budget smaller than one event still returns one event per page, with a cursor.
      const tiny = await store.list({ env, limit: 1000, maxBytes: 1 });
      expect(tiny.events).toStrictEqual([all[9]]);
      expect(tiny.cursor).toEqual(expect.any(String));
      const next = await store.list({ env, limit: 1000, maxBytes: 1, cursor: tiny.cursor });
      expect(next.events).toStrictEqual([all[8]]);
      // The count limit still applies under the byte budget, and a page that fits ends the list.
      expect((await store.list({ env, limit: 2, maxBytes: 1_000_000 })).events).toHaveLength(2);
      const whole = await store.list({ env, limit: 10, maxBytes: 1_000_000 });
      expect(whole.events).toHaveLength(10);
      expect(whole.cursor).toBeNull();
      // With a name filter too.
      const named = await store.list({ env, limit: 1000, maxBytes: 25_000, name: "test/created" });
      expect(named.events.map((e) => e.internal_id)).toEqual([iid(9), iid(8)]);
    });

    it("bounds a page by 8 MiB by default, however large limit is", async () => {
      const blob = "y".repeat(1024 * 1024);
      for (let i = 0; i < 12; i += 4) {
        await store.append([0, 1, 2, 3].map((k) => event(env, i + k, { data: { blob } })));
      }
      const first = await store.list({ env, limit: 1000 });
      const bytes = first.events.reduce((n, e) => n + JSON.stringify(e).length, 0);
      expect(first.events.length).toBeGreaterThanOrEqual(6);
      expect(first.events.length).toBeLessThan(12);
      expect(bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
      expect(first.cursor).toEqual(expect.any(String));
      const rest = await store.list({ env, limit: 1000, cursor: first.cursor });
      expect(first.events.length + rest.events.length).toBe(12);
      expect(rest.cursor).toBeNull();
    });

    it("rejects a maxBytes that is not a positive integer, naming it", async () => {
      for (const maxBytes of [0, -1, 1.5, Number.NaN, "8mb" as unknown as number]) {
        const error = await rejection(store.list({ env, limit: 1, maxBytes }));
        expect(error.code).toBe("invalid_input");
        expect(error.message).toContain("maxBytes must be a positive integer");
      }
    });

    it("rejects a bad list query with a message naming the field", async () => {
      for (const limit of [0, 1001, 1.5, Number.NaN]) {
        const error = await rejection(store.list({ env, limit }));
        expect(error.code).toBe("invalid_input");
        expect(error.message).toContain("limit must be an integer from 1 to 1000");
      }
      const error = await rejection(store.list({ env: "", limit: 1 }));
      expect(error.message).toContain("env");
    });

    it("lists the environments that hold events: bytewise by name, with count and last receive time", async () => {
      const mine = async () => (await store.listEnvs()).filter((e) => e.env.startsWith(env));
      expect(await mine()).toEqual([]);
      // Bytewise: "-B" < "-a" < "_c" < "_é" < "_Ａ" (U+FF21) < "_😀" (U+1F600). A locale
      // collation orders them otherwise, and so does `<` on strings (UTF-16: U+FF21 > U+D83D).
      const names = [`${env}_c`, `${env}-a`, `${env}_😀`, `${env}-B`, `${env}_é`, `${env}_Ａ`];
      const [c, a, emoji, upper, accent, wide] = names as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      await store.append([
        event(a, 1, { received_at: BASE + 50 }),
        event(a, 2, { received_at: BASE + 90 }),
        event(a, 3, { received_at: BASE + 70 }),
        event(upper, 1, { received_at: BASE + 5 }),
        event(c, 4, { received_at: BASE + 1 }),
        event(emoji, 5, { received_at: BASE + 2 }),
        event(accent, 6, { received_at: BASE + 3 }),
        event(wide, 9, { received_at: BASE + 4 }),
      ]);
      // A duplicate (same env and internal_id) is not counted twice; another env's is its own.
      await store.append([event(a, 2, { received_at: BASE + 999 }), event(upper, 2)]);
      const listed = await mine();
      expect(listed).toStrictEqual([
        { env: upper, events: 2, lastReceivedAt: BASE + 5 },
        { env: a, events: 3, lastReceivedAt: BASE + 90 },
        { env: c, events: 1, lastReceivedAt: BASE + 1 },
        { env: accent, events: 1, lastReceivedAt: BASE + 3 },
        { env: wide, events: 1, lastReceivedAt: BASE + 4 },
        { env: emoji, events: 1, lastReceivedAt: BASE + 2 },
      ]);
      // Every environment of the store, not only this case's, comes back sorted.
      const all = (await store.listEnvs()).map((e) => e.env);
      expect(all).toEqual(
        all.slice().sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
      );
      // An environment whose events retention deleted is no longer listed.
      const old = `${env}-old`;
      await store.append([
        event(old, 7, { received_at: 1000 }),
        event(old, 8, { received_at: 2000 }),
      ]);
      expect((await mine()).find((e) => e.env === old)).toStrictEqual({
        env: old,
        events: 2,
        lastReceivedAt: 2000,
      });
      expect(await store.deleteReceivedBefore(2500)).toBeGreaterThanOrEqual(2);
      expect((await mine()).map((e) => e.env)).toEqual([upper, a, c, accent, wide, emoji]);
    });

    it("deletes events received before the cutoff (retention), in every environment", async () => {
      // Receive times far in the past, so events of other cases (received after BASE) stay.
      const old = (n: number, e = env) => event(e, n, { received_at: n * 1000 });
      await store.append([old(1), old(2), old(3), old(4), old(5)]);
      await store.append([old(6, `${env}-b`), old(1, `${env}-b`)]);
      expect(await store.deleteReceivedBefore(3000)).toBe(3);
      expect(await store.has([iid(1), iid(2), iid(3)], env)).toEqual(new Set([iid(3)]));
      expect(await store.has([iid(1), iid(6)], `${env}-b`)).toEqual(new Set([iid(6)]));
      expect(await store.deleteReceivedBefore(3000)).toBe(0);
      expect(await store.deleteReceivedBefore(6000)).toBe(3);
      const rest = await store.list({ env: `${env}-b`, limit: 10 });
      expect(rest.events.map((e) => e.internal_id)).toEqual([iid(6)]);
    });

    it("returns data and user exactly as given (unicode, nesting, __proto__, big numbers)", async () => {
      const data = JSON.parse(
        '{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}, "z": 1, "a": 2}',
      ) as Record<string, unknown>;
      Object.assign(data, {
        text: 'héllo wörld ✓ 日本語 עברית 🎉👩🏽‍💻 e\u0301 \u2028 "quoted" back\\slash\nnew line\ttab',
        nested: { deep: { deeper: { list: [1, "two", null, true, { x: [[]] }], empty: {} } } },
        numbers: [
          0,
          -1,
          Number.MAX_SAFE_INTEGER,
          -Number.MAX_SAFE_INTEGER,
          1e21,
          1.7976931348623157e308,
          5e-324,
          0.1 + 0.2,
          -2.5e-300,
        ],
        flags: { t: true, f: false, n: null },
        "key with spaces & ünïcode 🔑": "",
      });
      const user = JSON.parse('{"__proto__": "x", "id": "u-é"}') as Record<string, unknown>;
      const e = event(env, 1, { data, user, id: "ïd-🎉", v: "2024-01-14.1" });
      await store.append([e]);
      const got = await store.get(e.internal_id, env);
      // toEqual, not toStrictEqual: an own "constructor" key confuses vitest's type check.
      expect(got).toEqual(e);
      expect(JSON.stringify(got)).toHaveLength(JSON.stringify(e).length);
      expect(got!.data.constructor).toEqual({ prototype: 1 });
      expect(Object.getPrototypeOf(got!.data)).toBe(Object.prototype);
      expect(Object.hasOwn(got!.data, "__proto__")).toBe(true);
      expect(Object.hasOwn(got!.user!, "__proto__")).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const listed = (await store.list({ env, limit: 1 })).events[0];
      expect(listed).toEqual(e);
      if (capabilities.keyOrder) {
        expect(Object.keys(got!.data)).toEqual(Object.keys(data));
      }
    });

    if (capabilities.nulCharacter) {
      it("stores U+0000 inside strings of data", async () => {
        const e = event(env, 1, { data: { s: "a\u0000b" } });
        await store.append([e]);
        expect((await store.get(e.internal_id, env))?.data).toEqual({ s: "a\u0000b" });
      });
    }

    it("stores each id once under 8 concurrent appends of overlapping id sets", async () => {
      const calls = Array.from({ length: 8 }, (_, k) => {
        const batch = Array.from({ length: 200 }, (_, i) =>
          event(env, k * 100 + i, { data: { writer: k } }),
        );
        // Opposite orders across writers: drivers must not deadlock on overlapping rows.
        return store.append(k % 2 ? batch.reverse() : batch);
      });
      await Promise.all(calls);
      const { events } = await listAll(store, { env, limit: 1000 });
      const ids = events.map((e) => e.internal_id);
      expect(ids).toHaveLength(900);
      expect(new Set(ids).size).toBe(900);
      expect(ids).toEqual(Array.from({ length: 900 }, (_, i) => iid(899 - i)));
    });

    it("can be closed twice, and refuses work once closed", async () => {
      await store.append([event(env, 1)]);
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
      const error = await rejection(store.get(iid(1), env));
      expect(error.code).toBe("closed");
      expect((await rejection(store.append([event(env, 2)]))).code).toBe("closed");
      expect((await rejection(store.listEnvs())).code).toBe("closed");
    });

    if (capabilities.persistent) {
      it("keeps appended events across a close and reopen", async () => {
        const events = [event(env, 1, { data: { kept: "yes ✓" } }), event(env, 2)];
        await store.append(events);
        await store.close();
        const reopened = await factory();
        try {
          expect(await reopened.get(iid(1), env)).toStrictEqual(events[0]);
          const page = await reopened.list({ env, limit: 10 });
          expect(page.events).toStrictEqual([events[1], events[0]]);
        } finally {
          await reopened.close();
        }
      });
    }
  });
}
