import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { createMemoryStore } from "@evt/dedup";
import { createEventApi, type EventApiHooks, ServerError } from "@evt/server";
import { createNodeHandler, listen } from "@evt/server/node";
import { createMemoryEventStore, type EventStore, StoreError } from "@evt/store";
import { afterEach, describe, expect, it } from "vitest";
import { gatedStore } from "./support/gated.js";
import { sleep } from "./support/http.js";
import { raw, startServer, type TestServer } from "./support/server.js";

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await sleep(10);
  expect(check()).toBe(true);
}

describe("@evt/server/node", () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    while (servers.length > 0) await servers.pop()!.close();
  });
  async function start(...args: Parameters<typeof startServer>) {
    const s = await startServer(...args);
    servers.push(s);
    return s;
  }

  it("answers 413 to an endless chunked body and stops reading it", async () => {
    const s = await start({ maxRequestBytes: 64 * 1024 });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const result = await new Promise<{ status: number; written: number }>((resolve, reject) => {
      let written = 0;
      const req = request(
        `${s.url}/e/k`,
        { method: "POST", headers: { "content-type": "application/json" } },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, written });
        },
      );
      req.on("error", (err) => (written > 0 ? resolve({ status: -1, written }) : reject(err)));
      req.write("[");
      const pump = () => {
        while (written < 512 * 1024 * 1024) {
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once("drain", pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(result.status).toBe(413);
    // The client was stopped long before its 512 MiB were sent.
    expect(result.written).toBeLessThan(64 * 1024 * 1024);
    expect((await raw(s.url, { method: "GET", path: "/health" })).status).toBe(200);
  });

  it("survives clients that disconnect mid-body and mid-request", async () => {
    const gated = gatedStore();
    const s = await start({ store: gated.store });
    const port = Number(new URL(s.url).port);
    // Mid-body.
    await new Promise<void>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write('POST /e/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"name":');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    // Mid-request: the body arrived, the store is still appending when the client leaves.
    await new Promise<void>((resolve) => {
      const body = '{"name":"left.early"}';
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(
          `POST /e/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      });
      void until(() => gated.waiting === 1).then(() => {
        socket.destroy();
        resolve();
      });
    });
    await sleep(20);
    gated.release();
    await sleep(20);
    // The event was stored even though nobody was left to hear the answer.
    expect(
      (await s.store.list({ env: "production", limit: 10 })).events.map((e) => e.name),
    ).toEqual(["left.early"]);
    expect((await raw(s.url, { method: "GET", path: "/health" })).status).toBe(200);
  });

  it("answers 408 JSON to a client that never finishes its headers", async () => {
    const s = await start({}, { headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const u = new URL(s.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname, () =>
        socket.write("POST /e/k HTTP/1.1\r\nHost: x\r\n"),
      );
      const chunks: Buffer[] = [];
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("error", reject);
      socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({
      ids: [],
      status: 408,
    });
    expect((await raw(s.url, { method: "GET", path: "/health" })).status).toBe(200);
  });

  it("answers 503 with Retry-After past maxConcurrentRequests", async () => {
    const gated = gatedStore();
    const s = await start({ store: gated.store }, { maxConcurrentRequests: 1 });
    const first = raw(s.url, { path: "/e/k", body: '{"name":"one"}' });
    await until(() => gated.waiting === 1);
    const second = await raw(s.url, { path: "/e/k", body: '{"name":"two"}' });
    expect(second.status).toBe(503);
    expect(second.headers["retry-after"]).toBe("1");
    expect(second.json).toMatchObject({
      ids: [],
      status: 503,
      error: expect.stringContaining("concurrent"),
    });
    gated.release();
    expect((await first).status).toBe(200);
    expect((await raw(s.url, { path: "/e/k", body: '{"name":"three"}' })).status).toBe(200);
  });

  it("close() stops accepting, waits for the request in flight, then resolves", async () => {
    const gated = gatedStore();
    const api = createEventApi({ dedup: createMemoryStore(), store: gated.store });
    const listener = await listen(api, { port: 0 });
    const inFlight = raw(listener.url, { path: "/e/k", body: '{"name":"in.flight"}' });
    await until(() => gated.waiting === 1);
    let closed = false;
    const closing = listener.close().then(() => {
      closed = true;
    });
    await sleep(50);
    expect(closed).toBe(false);
    await expect(raw(listener.url, { method: "GET", path: "/health" })).rejects.toThrow();
    gated.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    await closing;
    expect(closed).toBe(true);
    expect((await gated.store.list({ env: "production", limit: 10 })).events).toHaveLength(1);
  });

  it("mounts under a basePath and inside an existing node:http server", async () => {
    const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
    const handler = createNodeHandler(api, { basePath: "/hooks/evt" });
    const server = createServer((req, res) => {
      if (req.url?.startsWith("/hooks/evt")) return handler(req, res);
      res.end("app");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ok = await raw(url, { path: "/hooks/evt/e/k", body: '{"name":"mounted"}' });
      expect(ok.json).toMatchObject({ status: 200 });
      expect(
        (await raw(url, { method: "GET", path: `/hooks/evt/v1/events/${ok.json.ids[0]}` })).json
          .data.name,
      ).toBe("mounted");
      expect((await raw(url, { method: "GET", path: "/other" })).text).toBe("app");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("echoes x-request-id and reports route templates (never the key) to hooks and logs", async () => {
    const calls: unknown[] = [];
    const logs: unknown[] = [];
    const hooks: EventApiHooks = {
      onRequest: (i) => calls.push(["request", i.route, i.status]),
      onEvents: (i) => calls.push(["events", i.accepted, i.duplicates]),
      onRejected: (i) => calls.push(["rejected", i.reason]),
      onDedup: () => calls.push(["dedup"]),
      onStore: () => calls.push(["store"]),
    };
    const log = (level: string) => (obj: Record<string, unknown>, msg: string) =>
      logs.push([level, obj, msg]);
    const failing = createMemoryEventStore();
    const store: EventStore = {
      ...failing,
      driver: "memory",
      append: () => Promise.reject(new StoreError("memory", "unavailable", "injected")),
      get: (a, b) => failing.get(a, b),
      has: (a, b) => failing.has(a, b),
      list: (q) => failing.list(q),
      deleteReceivedBefore: (c) => failing.deleteReceivedBefore(c),
      listEnvs: () => failing.listEnvs(),
      ping: () => failing.ping(),
      close: () => failing.close(),
    };
    const secret = "super-secret-event-key";
    const s = await start({
      eventKeys: [secret],
      store,
      hooks,
      logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    });
    const res = await raw(s.url, {
      path: `/e/${secret}`,
      headers: { "x-request-id": "req-42" },
      body: '{"name":"a","id":"x"}',
    });
    expect(res.status).toBe(503);
    expect(res.headers["x-request-id"]).toBe("req-42");
    await raw(s.url, { path: "/e/wrong", body: '{"name":"a"}' });
    expect(calls).toEqual([
      ["dedup"],
      ["rejected", "unavailable"],
      ["request", "/e/:eventKey", 503],
      ["rejected", "unauthorized"],
      ["request", "/e/:eventKey", 401],
    ]);
    expect(logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(logs, (_k, v) => (v instanceof Error ? v.message : v))).not.toContain(
      secret,
    );
  });

  it("applies a configured CORS origin, or none", async () => {
    const one = await start({ cors: { origin: "https://app.example" } });
    const res = await raw(one.url, { path: "/e/k", body: '{"name":"c"}' });
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example");
    const none = await start({ cors: false });
    const res2 = await raw(none.url, { path: "/e/k", body: '{"name":"c"}' });
    expect(res2.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("rejects bad options with a ServerError that says what is allowed", async () => {
    const base = { dedup: createMemoryStore(), store: createMemoryEventStore() };
    expect(() => createEventApi({ ...base, maxRequestBytes: -1 })).toThrow(ServerError);
    expect(() => createEventApi({ ...base, dedupWindowMs: 1.5 })).toThrow(
      /dedupWindowMs must be a positive integer/,
    );
    expect(() => createEventApi({ ...base, eventKeys: [""] })).toThrow(/eventKeys/);
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expect(() => createEventApi({ dedup: {} as any, store: base.store })).toThrow(/options.dedup/);
    await expect(listen(createEventApi(base), { port: 70000 })).rejects.toThrow(
      /port must be an integer/,
    );
  });

  it("answers /ready with 503 when a store does not answer", async () => {
    const down = createMemoryEventStore();
    const store: EventStore = {
      ...down,
      driver: "memory",
      append: (e) => down.append(e),
      get: (a, b) => down.get(a, b),
      has: (a, b) => down.has(a, b),
      list: (q) => down.list(q),
      deleteReceivedBefore: (c) => down.deleteReceivedBefore(c),
      listEnvs: () => down.listEnvs(),
      ping: () => Promise.reject(new StoreError("memory", "unavailable", "down")),
      close: () => down.close(),
    };
    const s = await start({ store });
    const res = await raw(s.url, { method: "GET", path: "/ready" });
    expect(res.status).toBe(503);
    expect(res.json.error).toContain("event store");
    expect(await s.api.ready()).toBe(false);
  });
});
