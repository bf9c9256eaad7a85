import { createMemoryStore } from "@evt/dedup";
import {
  createEventApi,
  type EventApiOptions,
  type RejectReason,
  type RouteName,
} from "@evt/server";
import { createFetchHandler } from "@evt/server/fetch";
import { createMemoryEventStore, type EventStore, StoreError } from "@evt/store";
import { afterEach, describe, expect, it } from "vitest";
import { get, send } from "./support/http.js";
import { raw, startServer, type TestServer } from "./support/server.js";

const T0 = Date.parse("2026-12-02T12:00:00.000Z");
const READ = { authorization: "Bearer read-key" };

function api(options: Partial<EventApiOptions> = {}) {
  let clock = T0;
  const rejected: RejectReason[] = [];
  const requests: { route: RouteName; method: string; status: number }[] = [];
  const store = options.store ?? createMemoryEventStore();
  const instance = createEventApi({
    dedup: createMemoryStore(),
    store,
    now: () => clock,
    hooks: {
      onRejected: ({ reason }) => rejected.push(reason),
      onRequest: ({ route, method, status }) => requests.push({ route, method, status }),
    },
    ...options,
  });
  return {
    api: instance,
    store,
    rejected,
    requests,
    at(ms: number) {
      clock = T0 + ms;
    },
  };
}

/** A store whose `listEnvs` waits until `open()` is called, to hold a read in flight. */
function heldEnvs(inner: EventStore) {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let calls = 0;
  const store: EventStore = {
    ...inner,
    driver: inner.driver,
    async listEnvs() {
      calls++;
      await gate;
      return inner.listEnvs();
    },
  };
  return {
    store,
    open: () => open(),
    get calls() {
      return calls;
    },
  };
}

describe("GET /v1/envs", () => {
  it("lists every environment holding events, by name, with its count and last receive time", async () => {
    const a = api();
    expect(await get(a.api, "/v1/envs")).toMatchObject({ status: 200, json: { data: [] } });
    a.at(1_000);
    expect((await send(a.api, [{ name: "a" }, { name: "b" }])).status).toBe(200); // production
    a.at(2_000);
    expect((await send(a.api, { name: "c" }, { env: "preview-2" })).status).toBe(200);
    a.at(3_000);
    await send(a.api, { name: "d" }, { headers: { "x-evt-env": "branch/feat_x" } });
    a.at(4_000);
    await send(a.api, { name: "e" }); // production again: the latest time wins
    a.at(5_000);
    await send(a.api, { name: "f" }, { env: "Preview-1" }); // upper case sorts first (bytewise)
    // A duplicate (same id) is not stored twice, so not counted twice.
    await send(a.api, { name: "g", id: "same" }, { env: "preview-2" });
    await send(a.api, { name: "g", id: "same" }, { env: "preview-2" });
    const res = await get(a.api, "/v1/envs");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json).toStrictEqual({
      data: [
        { env: "Preview-1", events: 1, last_received_at: "2026-12-02T12:00:05.000Z" },
        { env: "branch/feat_x", events: 1, last_received_at: "2026-12-02T12:00:03.000Z" },
        { env: "preview-2", events: 2, last_received_at: "2026-12-02T12:00:05.000Z" },
        { env: "production", events: 3, last_received_at: "2026-12-02T12:00:04.000Z" },
      ],
    });
    // Each environment's events are readable with the env named here.
    const page = await get(a.api, "/v1/events?env=branch/feat_x");
    expect(page.json.data.map((e: { name: string }) => e.name)).toEqual(["d"]);
    expect(a.requests.at(-1)).toEqual({ route: "/v1/events", method: "GET", status: 200 });
    expect(a.requests.filter((r) => r.route === "/v1/envs")).toHaveLength(2);
  });

  it("needs an API key when apiKeys is set, like the other reads", async () => {
    const a = api({ apiKeys: ["read-key"], eventKeys: ["test-key"] });
    await send(a.api, { name: "a" });
    const none = await get(a.api, "/v1/envs");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe("Bearer");
    expect(none.json.error).toContain("Missing API key");
    const wrong = await get(a.api, "/v1/envs", { authorization: "Bearer test-key" });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toContain("API key not found");
    // An unauthenticated caller learns nothing, not even a 400 for a bad query.
    expect((await get(a.api, "/v1/envs?env=x")).status).toBe(401);
    const ok = await get(a.api, "/v1/envs", READ);
    expect(ok.status).toBe(200);
    expect(ok.json.data).toEqual([
      { env: "production", events: 1, last_received_at: new Date(T0).toISOString() },
    ]);
    expect(a.rejected).toEqual(["unauthorized", "unauthorized", "unauthorized"]);
  });

  it("refuses every query parameter with 400 naming it, and ignores the env headers", async () => {
    const a = api();
    await send(a.api, { name: "a" }, { env: "staging" });
    for (const query of [
      "env=production",
      "limit=10",
      "cursor=abc",
      "since=0&until=1",
      "=x",
      "%zz=1",
      "env=../../etc/passwd",
      `${"k".repeat(5000)}=1`,
    ]) {
      const res = await get(a.api, `/v1/envs?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json.error).toMatch(/^Unknown query parameter "/);
      expect(res.json.error).toContain("GET /v1/envs takes no query parameters");
      expect(res.json.error.length).toBeLessThan(300);
    }
    expect((await get(a.api, "/v1/envs?env=production")).json.error).toContain(
      'Unknown query parameter "env"',
    );
    // An empty query is no parameter; a trailing slash is the same route.
    expect((await get(a.api, "/v1/envs?")).status).toBe(200);
    expect((await get(a.api, "/v1/envs?&&")).status).toBe(200);
    expect((await get(a.api, "/v1/envs/")).json.data).toHaveLength(1);
    // The route lists every environment: an env header (even a malformed one) does not filter it.
    const envHeaders: Record<string, string>[] = [
      { "x-inngest-env": "production" },
      { "x-evt-env": "bad env!" },
    ];
    for (const headers of envHeaders) {
      const res = await get(a.api, "/v1/envs", headers);
      expect(res.status).toBe(200);
      expect(res.json.data.map((e: { env: string }) => e.env)).toEqual(["staging"]);
    }
    expect((await get(a.api, "/v1/envs/staging")).status).toBe(404);
    expect((await get(a.api, "/v1/env")).json.error).toContain("GET /v1/envs");
  });

  describe("over HTTP", () => {
    let server: TestServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    it("answers 405 with Allow: GET to POST, DELETE, PUT, PATCH and HEAD, and stores nothing", async () => {
      server = await startServer({ apiKeys: ["read-key"] });
      for (const method of ["POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]) {
        const res = await raw(server.url, {
          method,
          path: "/v1/envs",
          headers: { ...READ, "content-type": "application/json" },
          ...(method === "POST" || method === "PUT"
            ? { body: JSON.stringify({ name: "sneaky", env: "production" }) }
            : {}),
        });
        expect(res.status, method).toBe(405);
        expect(res.headers.allow).toBe("GET");
        if (method !== "HEAD") {
          expect(res.json.error).toBe(`Method ${method} is not allowed on /v1/envs (allowed: GET)`);
        }
      }
      // Without a key too: the method is refused before anything else.
      const anon = await raw(server.url, { method: "DELETE", path: "/v1/envs" });
      expect(anon.status).toBe(405);
      const res = await raw(server.url, { method: "GET", path: "/v1/envs", headers: READ });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ data: [] });
    });

    it("answers through the fetch adapter too", async () => {
      const a = api();
      await send(a.api, { name: "a" }, { env: "e1" });
      const handler = createFetchHandler(a.api);
      const res = await handler(new Request("http://x/v1/envs"));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        data: [{ env: "e1", events: 1, last_received_at: new Date(T0).toISOString() }],
      });
      expect((await handler(new Request("http://x/v1/envs", { method: "POST" }))).status).toBe(405);
    });
  });

  it("takes a list-read slot while the store counts: 429 past maxConcurrentReads, freed after", async () => {
    const inner = createMemoryEventStore();
    const held = heldEnvs(inner);
    const a = api({ store: held.store, maxConcurrentReads: 1 });
    await send(a.api, { name: "a" });
    const first = a.api.handle({ method: "GET", url: "/v1/envs", headers: {}, body: null });
    await Promise.resolve();
    expect(held.calls).toBe(1);
    const busy = await get(a.api, "/v1/envs");
    expect(busy.status).toBe(429);
    expect(busy.headers["retry-after"]).toBe("1");
    expect(busy.json.error).toContain(
      "Too many list reads at once (allowed: 1 concurrent GET /v1/events and GET /v1/envs)",
    );
    // The envs read holds the slot that event pages use too.
    expect((await get(a.api, "/v1/events")).status).toBe(429);
    expect(held.calls).toBe(1);
    held.open();
    expect((await first).status).toBe(200);
    expect((await get(a.api, "/v1/envs")).json.data).toHaveLength(1);
    // A page still being sent holds the slot against an envs read.
    const page = await a.api.handle({ method: "GET", url: "/v1/events", headers: {}, body: null });
    expect((await get(a.api, "/v1/envs")).status).toBe(429);
    await (page.body as AsyncIterable<string>)[Symbol.asyncIterator]().return?.();
    expect((await get(a.api, "/v1/envs")).status).toBe(200);
    expect(a.rejected).toEqual(["too_many_reads", "too_many_reads", "too_many_reads"]);
  });

  it("answers 503 when the store is unavailable and gives the slot back", async () => {
    const inner = createMemoryEventStore();
    let fail = true;
    const store: EventStore = {
      ...inner,
      driver: inner.driver,
      listEnvs: () =>
        fail
          ? Promise.reject(new StoreError("postgres", "unavailable", "listEnvs: timed out"))
          : inner.listEnvs(),
    };
    const a = api({ store, maxConcurrentReads: 1 });
    const down = await get(a.api, "/v1/envs");
    expect(down.status).toBe(503);
    expect(down.headers["retry-after"]).toBe("1");
    expect(down.json.error).toContain("temporarily unavailable; retry");
    fail = false;
    expect(await get(a.api, "/v1/envs")).toMatchObject({ status: 200, json: { data: [] } });
  });
});
