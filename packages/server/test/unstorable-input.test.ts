import { createMemoryStore, DedupError, type DedupStore } from "@evt/dedup";
import { createEventApi, type EventApi, type EventApiLogger } from "@evt/server";
import { type Listener, listen } from "@evt/server/node";
import { createMemoryEventStore, type EventStore, StoreError } from "@evt/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DriverCombo, memory, redisPostgres, type Stores, sqlite } from "./support/drivers.js";
import { send } from "./support/http.js";
import { raw } from "./support/server.js";

const KEY = "unstorable-key";
const JSON_CT = { "content-type": "application/json" };

/** A logger that keeps what was logged at warn and error. */
function recordingLogger() {
  const lines: { level: "warn" | "error"; msg: string; obj: Record<string, unknown> }[] = [];
  const logger: EventApiLogger = {
    debug() {},
    info() {},
    warn: (obj, msg) => lines.push({ level: "warn", msg, obj }),
    error: (obj, msg) => lines.push({ level: "error", msg, obj }),
  };
  return { logger, lines };
}

interface BadText {
  name: string;
  /** Raw JSON text: the escapes reach the server as written and JSON.parse decodes them. */
  body: string;
  /** `<path>: <message>` the error must contain. */
  issue: string;
}

const TEXT_ALLOWED = "(allowed: well-formed Unicode text without U+0000)";

const badText: BadText[] = [
  {
    name: "lone surrogate in id",
    body: String.raw`{"name":"a","id":"\ud800"}`,
    issue: String.raw`events[0].id: contains a lone surrogate (\ud800) at character 0`,
  },
  {
    name: "U+0000 in a data value",
    body: String.raw`{"name":"a","data":{"k":"\u0000"}}`,
    issue: "events[0].data.k: contains U+0000 (NUL) at character 0",
  },
  {
    name: "U+0000 in id",
    body: String.raw`{"name":"a","id":"x\u0000y"}`,
    issue: "events[0].id: contains U+0000 (NUL) at character 1",
  },
  {
    name: "lone low surrogate as a user key",
    body: String.raw`{"name":"a","user":{"\udc00":1}}`,
    issue: String.raw`events[0].user["\udc00"]: the key contains a lone surrogate (\udc00) at character 0`,
  },
  {
    name: "an emoji cut in half deep in the second event of a batch",
    body: String.raw`[{"name":"a","id":"kept-out-1"},{"name":"b","data":{"items":[{"label":"ok \ud83d"}]}}]`,
    issue: String.raw`events[1].data.items[0].label: contains a lone surrogate (\ud83d) at character 3`,
  },
];

/** The same kinds of characters, well-formed: a pair, and control characters besides U+0000. */
const GOOD_BODY = String.raw`{"name":"a\ud83d\ude00","id":"\ud83d\ude00\u0001","data":{"k\t":"\ud83d\ude00\u0001\t","list":["\u001f"]},"user":{"e":"\u007f"},"v":"\t"}`;

function unstorableSuite(combo: DriverCombo): void {
  describe(`client strings no store can hold, on ${combo.name}`, () => {
    let stores: Stores;
    let api: EventApi;
    let listener: Listener;
    let url: string;
    const log = recordingLogger();

    beforeAll(async () => {
      stores = await combo.create("unstorable");
      api = createEventApi({
        dedup: stores.dedup,
        store: stores.store,
        eventKeys: [KEY],
        logger: log.logger,
      });
      listener = await listen(api, { port: 0 });
      url = listener.url;
    });
    afterAll(async () => {
      await listener?.close();
      await api?.close();
      await stores?.close();
    });

    for (const c of badText) {
      it(`${c.name} -> 400 naming the path`, async () => {
        const res = await raw(url, { path: `/e/${KEY}`, headers: JSON_CT, body: c.body });
        expect(res.status).toBe(400);
        expect(res.json).toMatchObject({ ids: [], status: 400 });
        expect(res.json.error).toContain(`${c.issue} ${TEXT_ALLOWED}`);
        // The bad character comes back spelled as an escape, never as raw (replaced) text.
        expect(res.text).not.toContain("\ufffd");
        // The server keeps serving.
        const health = await raw(url, { method: "GET", path: "/health" });
        expect(health.json).toEqual({ status: 200, message: "OK" });
      });
    }

    it("stored and claimed nothing, and never reached a store (no store error logged)", async () => {
      const page = await stores.store.list({ env: "production", limit: 100 });
      expect(page.events).toHaveLength(0);
      // The good event of the rejected batch did not claim its id.
      const key = "production\u0000kept-out-1";
      const [claim] = await stores.dedup.claim([{ key, value: "probe" }], 60_000);
      expect(claim).toEqual({ fresh: true });
      await stores.dedup.release([{ key, value: "probe" }]);
      expect(log.lines).toEqual([]);
    });

    it("accepts surrogate pairs and other control characters, sent as escapes, and stores them as sent", async () => {
      const logged = log.lines.length;
      const res = await raw(url, { path: `/e/${KEY}`, headers: JSON_CT, body: GOOD_BODY });
      expect(res.status).toBe(200);
      const [id] = res.json.ids as string[];
      const got = await raw(url, { method: "GET", path: `/v1/events/${id}` });
      expect(got.status).toBe(200);
      const sent = JSON.parse(GOOD_BODY);
      expect(got.json.data).toMatchObject({
        name: sent.name,
        id: sent.id,
        data: sent.data,
        user: sent.user,
        v: sent.v,
      });
      expect(got.json.data.data["k\t"]).toBe("😀\u0001\t");
      const again = await raw(url, { path: `/e/${KEY}`, headers: JSON_CT, body: GOOD_BODY });
      expect(again.json.ids).toEqual([id]); // the id "😀\u0001" deduplicates like any other
      expect(log.lines.slice(logged)).toEqual([]);
    });
  });
}

for (const combo of [memory, sqlite, redisPostgres]) unstorableSuite(combo);

describe("store errors that are not retryable", () => {
  /** Memory stores whose claim / has / append reject with `error` when asked to. */
  function failing(stage: "claim" | "has" | "append", error: unknown) {
    const dedupInner = createMemoryStore();
    const storeInner = createMemoryEventStore();
    const dedup: DedupStore = {
      driver: "memory",
      claim: (e, ttl) => (stage === "claim" ? Promise.reject(error) : dedupInner.claim(e, ttl)),
      release: (e) => dedupInner.release(e),
      ping: () => dedupInner.ping(),
      close: () => dedupInner.close(),
    };
    const store: EventStore = {
      driver: "memory",
      append: (ev) => (stage === "append" ? Promise.reject(error) : storeInner.append(ev)),
      has: (ids, env) => (stage === "has" ? Promise.reject(error) : storeInner.has(ids, env)),
      get: (id, env) => storeInner.get(id, env),
      list: (q) => storeInner.list(q),
      deleteReceivedBefore: (c) => storeInner.deleteReceivedBefore(c),
      listEnvs: () => storeInner.listEnvs(),
      ping: () => storeInner.ping(),
      close: () => storeInner.close(),
    };
    return { dedup, store, dedupInner, storeInner };
  }

  const cases: { name: string; stage: "claim" | "has" | "append"; error: unknown }[] = [
    {
      name: "claim: DedupError invalid_argument (what a lone surrogate in an id used to cause)",
      stage: "claim",
      error: new DedupError("invalid_argument", "entries[0].key contains a lone UTF-16 surrogate"),
    },
    {
      name: "claim: DedupError internal",
      stage: "claim",
      error: new DedupError("internal", "unexpected reply", { driver: "redis" }),
    },
    {
      name: "claim: DedupError unavailable marked not retryable",
      stage: "claim",
      error: new DedupError("unavailable", "gave up", { retryable: false }),
    },
    {
      name: "claim: an error whose retryable is truthy but not true",
      stage: "claim",
      error: Object.assign(new Error("odd"), { retryable: "yes", code: "unavailable" }),
    },
    {
      name: "claim: a plain Error",
      stage: "claim",
      error: new Error("bug"),
    },
    {
      name: "has: StoreError failed",
      stage: "has",
      error: new StoreError("postgres", "failed", "syntax error"),
    },
    {
      name: "append: StoreError invalid_input (what U+0000 did to PostgreSQL)",
      stage: "append",
      error: new StoreError("postgres", "invalid_input", "unsupported Unicode escape sequence"),
    },
  ];

  for (const c of cases) {
    it(`${c.name} -> 500, generic message, one error log line`, async () => {
      const { dedup, store, storeInner } = failing(c.stage, c.error);
      const log = recordingLogger();
      const rejected: string[] = [];
      const api = createEventApi({
        dedup,
        store,
        logger: log.logger,
        hooks: { onRejected: ({ reason }) => rejected.push(reason) },
      });
      if (c.stage === "has") {
        // `has` runs only for a duplicate of an event of an earlier request.
        expect((await send(api, { name: "a", id: "dup" })).status).toBe(200);
      }
      const res = await send(api, [
        { name: "a", id: "dup" },
        { name: "b", id: "fresh" },
      ]);
      expect(res.status).toBe(500);
      expect(res.json).toEqual({
        ids: [],
        status: 500,
        error: "Internal server error; nothing was stored",
      });
      expect(res.headers["retry-after"]).toBeUndefined();
      expect(rejected).toEqual(["internal"]);
      expect(log.lines).toHaveLength(1);
      expect(log.lines[0]).toMatchObject({
        level: "error",
        msg: "event ingest failed with an unexpected store error",
        obj: { stage: c.stage, err: c.error },
      });
      const stored = await storeInner.list({ env: "production", limit: 10 });
      expect(stored.events).toHaveLength(c.stage === "has" ? 1 : 0);
      await api.close();
      await dedup.close();
      await store.close();
    });
  }
});
