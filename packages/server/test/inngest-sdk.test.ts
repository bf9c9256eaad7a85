import { createMemoryEventStore, type EventStore, StoreError } from "@evt/store";
import { Inngest } from "inngest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { raw, startServer, type TestServer } from "./support/server.js";

const KEY = "sdk-event-key";

interface Captured {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** An event store that fails the next `failAppends` appends, like a database blip. */
function flakyStore(inner: EventStore) {
  const state = { failAppends: 0, appends: 0 };
  const store: EventStore = {
    ...inner,
    driver: inner.driver,
    append(events) {
      state.appends++;
      if (state.failAppends > 0) {
        state.failAppends--;
        return Promise.reject(new StoreError(inner.driver, "unavailable", "injected fault"));
      }
      return inner.append(events);
    },
    get: (id, env) => inner.get(id, env),
    has: (ids, env) => inner.has(ids, env),
    list: (q) => inner.list(q),
    deleteReceivedBefore: (c) => inner.deleteReceivedBefore(c),
    listEnvs: () => inner.listEnvs(),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return { store, state };
}

describe("the official inngest SDK (v4) against the server", () => {
  let server: TestServer;
  let flaky: ReturnType<typeof flakyStore>;
  const captured: Captured[] = [];

  function client(options: { env?: string; isDev?: boolean } = {}) {
    return new Inngest({
      id: "test",
      baseUrl: server.url,
      eventKey: KEY,
      isDev: options.isDev ?? false,
      ...(options.env ? { env: options.env } : {}),
      fetch: async (input: string | URL | Request, init?: RequestInit) => {
        const headers = new Headers(init?.headers);
        const h: Record<string, string> = {};
        headers.forEach((v, k) => {
          h[k] = v;
        });
        captured.push({ url: String(input), headers: h, body: String(init?.body) });
        return fetch(input, init);
      },
    });
  }

  async function stored(id: string, env?: string) {
    const res = await raw(server.url, {
      method: "GET",
      path: `/v1/events/${id}${env ? `?env=${env}` : ""}`,
    });
    return res;
  }

  beforeAll(async () => {
    flaky = flakyStore(createMemoryEventStore());
    server = await startServer({ eventKeys: [KEY], store: flaky.store });
  });
  afterAll(async () => {
    await server.close();
  });

  it("sends one event; the returned id is retrievable with the stored fields", async () => {
    const inngest = client();
    const ts = Date.UTC(2025, 0, 2);
    // v4's types no longer list `user`, but the SDK sends it through and the wire format has it.
    const payload = {
      name: "app/user.signup",
      data: { userId: "u-1", nested: { ok: true } },
      user: { email: "a@example.com" },
      id: "signup-u-1",
      ts,
      v: "2024-01-14.1",
    };
    const { ids } = await inngest.send(payload as Parameters<typeof inngest.send>[0]);
    expect(ids).toHaveLength(1);
    const res = await stored(ids[0]!);
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({
      internal_id: ids[0],
      id: "signup-u-1",
      name: "app/user.signup",
      data: { userId: "u-1", nested: { ok: true } },
      user: { email: "a@example.com" },
      ts,
      v: "2024-01-14.1",
      env: "production",
    });
    const last = captured.at(-1)!;
    expect(new URL(last.url).pathname).toBe(`/e/${KEY}`);
    expect(last.headers["x-inngest-event-id-seed"]).toMatch(/^\d+,/);
  });

  it("sends a batch; every id is stored in order", async () => {
    const inngest = client();
    const events = Array.from({ length: 20 }, (_, i) => ({ name: "app/batch", data: { i } }));
    const { ids } = await inngest.send(events);
    expect(ids).toHaveLength(20);
    for (let i = 0; i < 20; i++) {
      const res = await stored(ids[i]!);
      expect(res.json.data.data).toEqual({ i });
    }
  });

  it("sends to a branch environment set on the client and per send", async () => {
    const onClient = await client({ env: "feature-x" }).send({ name: "app/env", data: {} });
    expect(captured.at(-1)!.headers["x-inngest-env"]).toBe("feature-x");
    expect((await stored(onClient.ids[0]!, "feature-x")).json.data.env).toBe("feature-x");
    expect((await stored(onClient.ids[0]!)).status).toBe(404);
    const perSend = await client().send({ name: "app/env", data: {} }, { env: "feature-y" });
    expect((await stored(perSend.ids[0]!, "feature-y")).json.data.env).toBe("feature-y");
  });

  it("works in dev mode too", async () => {
    const { ids } = await client({ isDev: true }).send({ name: "app/dev", data: { d: 1 } });
    expect((await stored(ids[0]!)).json.data.data).toEqual({ d: 1 });
  });

  it("a replayed SDK request (same bytes, same headers) stores once and gets identical ids", async () => {
    const { ids } = await client().send([
      { name: "app/replay", data: { a: 1 } },
      { name: "app/replay", data: { a: 2 } },
    ]);
    const original = captured.at(-1)!;
    const replay = await raw(server.url, {
      method: "POST",
      path: new URL(original.url).pathname,
      headers: original.headers,
      body: original.body,
    });
    expect(replay.status).toBe(200);
    expect(replay.json).toEqual({ ids, status: 200 });
    const page = await server.store.list({ env: "production", name: "app/replay", limit: 100 });
    expect(page.events).toHaveLength(2);
  });

  it("the SDK's own retry after a 503 stores once, with the ids of the seed", async () => {
    flaky.state.failAppends = 1;
    const before = flaky.state.appends;
    const { ids } = await client().send({ name: "app/retried", data: {} });
    expect(flaky.state.appends - before).toBe(2);
    const page = await server.store.list({ env: "production", name: "app/retried", limit: 100 });
    expect(page.events.map((e) => e.internal_id)).toEqual(ids);
  });

  it("surfaces a wrong event key as an SDK error", async () => {
    const wrong = new Inngest({ id: "test", baseUrl: server.url, eventKey: "nope", isDev: false });
    await expect(wrong.send({ name: "app/x", data: {} })).rejects.toThrow(/Event key not found/);
  });
});
