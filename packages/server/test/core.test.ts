import { createMemoryStore } from "@evt/dedup";
import { createEventApi, type EventApiOptions } from "@evt/server";
import { createMemoryEventStore } from "@evt/store";
import { describe, expect, it } from "vitest";
import { get, send } from "./support/http.js";

function make(extra: Partial<EventApiOptions> = {}) {
  return createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore(), ...extra });
}

describe("createEventApi (transport-free)", () => {
  it("accepts any event key in development mode, and only configured keys otherwise", async () => {
    const dev = make();
    expect((await send(dev, { name: "a" }, { key: "anything" })).status).toBe(200);
    expect((await send(dev, { name: "a" }, { key: "" })).status).toBe(200);
    const prod = make({ eventKeys: ["key-one", "key/two"] });
    expect((await send(prod, { name: "a" }, { key: "key-one" })).status).toBe(200);
    expect((await send(prod, { name: "a" }, { key: "key%2Ftwo" })).status).toBe(200);
    expect((await send(prod, { name: "a" }, { key: "key-on" })).status).toBe(401);
    expect((await send(prod, { name: "a" }, { key: "key-one-and-more" })).status).toBe(401);
  });

  it("applies limit overrides: maxEventsPerRequest and maxRequestBytes", async () => {
    const api = make({ limits: { maxEventsPerRequest: 2 }, maxRequestBytes: 200 });
    const three = await send(api, [{ name: "a" }, { name: "b" }, { name: "c" }]);
    expect(three.status).toBe(413);
    expect(three.json.error).toContain("at most 2 events");
    expect((await send(api, [{ name: "a" }, { name: "b" }])).status).toBe(200);
    const big = await send(api, { name: "a", data: { s: "x".repeat(300) } });
    expect(big.status).toBe(413);
    expect(big.json.error).toContain("at most 200 bytes");
  });

  it("routes absolute URLs, trailing slashes and HEAD", async () => {
    const api = make();
    const abs = await api.handle({
      method: "GET",
      url: "http://example.com/health?x=1",
      headers: {},
      body: null,
    });
    expect(abs.status).toBe(200);
    expect((await get(api, "/health/")).json).toEqual({ status: 200, message: "OK" });
    const head = await api.handle({ method: "HEAD", url: "/health", headers: {}, body: null });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
  });

  it("answers 503 to new events after close(), and close waits for requests in flight", async () => {
    const api = make();
    const pending = send(api, { name: "a" });
    const closing = api.close();
    expect((await pending).status).toBe(200);
    await closing;
    const after = await send(api, { name: "b" });
    expect(after.status).toBe(503);
    expect(after.headers["retry-after"]).toBe("1");
    expect(await api.ready()).toBe(false);
  });

  it("omits CORS headers when cors is false, but still answers OPTIONS with Allow", async () => {
    const api = make({ cors: false });
    const res = await api.handle({ method: "OPTIONS", url: "/e/k", headers: {}, body: null });
    expect(res.status).toBe(204);
    expect(res.headers.allow).toBe("POST, OPTIONS");
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("answers a non-retryable store error with a generic 500 and logs it", async () => {
    const store = createMemoryEventStore();
    const logged: string[] = [];
    const api = make({
      store: {
        ...store,
        driver: "memory",
        append: () => Promise.reject(new Error("disk on fire")),
        has: (a, b) => store.has(a, b),
        get: (a, b) => store.get(a, b),
        list: (q) => store.list(q),
        ping: () => store.ping(),
        close: () => store.close(),
        deleteReceivedBefore: (c) => store.deleteReceivedBefore(c),
        listEnvs: () => store.listEnvs(),
      },
      logger: { debug() {}, info() {}, warn() {}, error: (_o, msg) => logged.push(msg) },
    });
    const res = await send(api, { name: "a" });
    expect(res.status).toBe(500);
    expect(res.json.error).toBe("Internal server error; nothing was stored");
    expect(logged).toHaveLength(1);
  });
});
