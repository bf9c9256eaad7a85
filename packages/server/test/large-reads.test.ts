import { connect } from "node:net";
import { createMemoryStore } from "@evt/dedup";
import { createUlidFactory } from "@evt/schema";
import {
  createEventApi,
  type EventApiOptions,
  type RejectReason,
  responseText,
  ServerError,
} from "@evt/server";
import { createFetchHandler } from "@evt/server/fetch";
import { createMemoryEventStore, type EventStore, type StoredEvent } from "@evt/store";
import { afterEach, describe, expect, it } from "vitest";
import { get, sleep } from "./support/http.js";
import { raw, startServer, type TestServer } from "./support/server.js";

const nextId = createUlidFactory();

/** `n` events with `bytes` of data each, oldest first, appended straight to the store. */
async function fill(store: EventStore, n: number, bytes: number): Promise<StoredEvent[]> {
  const blob = "x".repeat(bytes);
  const events: StoredEvent[] = [];
  for (let i = 0; i < n; i++) {
    events.push({
      internal_id: nextId(),
      id: null,
      name: "t/big",
      data: { i, blob },
      user: null,
      ts: 1_750_000_000_000 + i,
      v: null,
      env: "production",
      received_at: 1_750_000_000_000 + i,
      source: null,
      source_id: null,
    });
  }
  await store.append(events);
  return events;
}

function api(options: Partial<EventApiOptions> = {}) {
  const rejected: RejectReason[] = [];
  const store = options.store ?? createMemoryEventStore();
  const instance = createEventApi({
    dedup: createMemoryStore(),
    store,
    hooks: { onRejected: ({ reason }) => rejected.push(reason) },
    ...options,
  });
  return { api: instance, store, rejected };
}

const list = (a: ReturnType<typeof api>["api"], query = "limit=1000") =>
  a.handle({ method: "GET", url: `/v1/events?${query}`, headers: {}, body: null });

describe("list reads: page bytes, streamed bodies, concurrency", () => {
  it("stops a page at maxPageBytes and returns the cursor of the rest", async () => {
    const { api: a, store } = api({ maxPageBytes: 25_000 });
    const events = await fill(store, 5, 10_000);
    const first = await get(a, "/v1/events?limit=1000");
    expect(first.status).toBe(200);
    expect(first.json.data.map((e: StoredEvent) => e.data.i)).toEqual([4, 3]);
    expect(first.json.cursor).toEqual(expect.any(String));
    const rest = await get(a, `/v1/events?limit=1000&cursor=${first.json.cursor}`);
    expect(rest.json.data.map((e: StoredEvent) => e.data.i)).toEqual([2, 1]);
    const last = await get(a, `/v1/events?limit=1000&cursor=${rest.json.cursor}`);
    expect(last.json.data).toEqual([events[0]]);
    expect(last.json.cursor).toBeNull();
  });

  it("serialises a page in chunks of about 64 KiB that join to the page's JSON", async () => {
    const { api: a, store } = api();
    const events = await fill(store, 20, 30_000);
    const res = await list(a);
    expect(typeof res.body).not.toBe("string");
    const chunks: string[] = [];
    for await (const chunk of res.body as AsyncIterable<string>) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(64 * 1024 + 31_000);
    expect(chunks.join("")).toBe(JSON.stringify({ data: events.reverse(), cursor: null }));
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
  });

  it("answers 429 with Retry-After past maxConcurrentReads, until a body is done; single reads stay outside", async () => {
    const { api: a, store, rejected } = api({ maxConcurrentReads: 2 });
    const [one] = await fill(store, 3, 100);
    const held = [await list(a), await list(a)];
    const busy = await list(a);
    expect(busy.status).toBe(429);
    expect(busy.headers["retry-after"]).toBe("1");
    expect(JSON.parse(busy.body as string)).toEqual({
      ids: [],
      status: 429,
      error: expect.stringContaining(
        "Too many list reads at once (allowed: 2 concurrent GET /v1/events)",
      ),
    });
    expect(rejected).toEqual(["too_many_reads"]);
    const single = await get(a, `/v1/events/${one!.internal_id}`);
    expect(single.status).toBe(200);
    // Reading one body to its end frees its slot; giving the other up (return()) frees it too.
    expect(JSON.parse(await responseText(held[0]!)).data).toHaveLength(3);
    expect((await list(a)).status).toBe(200); // takes the freed slot (and keeps it)
    expect((await list(a)).status).toBe(429);
    await (held[1]!.body as AsyncIterable<string>)[Symbol.asyncIterator]().return?.();
    expect((await get(a, "/v1/events")).status).toBe(200);
  });

  it("gives the slot back when the store fails or the query is bad", async () => {
    const store = createMemoryEventStore();
    let fail = true;
    const failing: EventStore = {
      ...store,
      driver: store.driver,
      list: (q) => (fail ? Promise.reject(new Error("boom")) : store.list(q)),
    };
    const { api: a } = api({ store: failing, maxConcurrentReads: 1 });
    expect((await list(a)).status).toBe(500);
    expect((await list(a, "limit=0")).status).toBe(400);
    fail = false;
    expect((await get(a, "/v1/events")).status).toBe(200);
  });

  it("refuses maxConcurrentReads and maxPageBytes that are not positive integers", () => {
    for (const bad of [{ maxConcurrentReads: 0 }, { maxPageBytes: 1.5 }, { maxPageBytes: -1 }]) {
      expect(() => api(bad)).toThrow(ServerError);
      expect(() => api(bad)).toThrow(/options\.max(ConcurrentReads|PageBytes) must be a positive/);
    }
  });

  it("fetch adapter: streams the page and answers 429 past the limit", async () => {
    const { api: a, store } = api({ maxConcurrentReads: 1 });
    const events = await fill(store, 10, 20_000);
    const handler = createFetchHandler(a);
    const held = await handler(new Request("http://x/v1/events?limit=1000"));
    const busy = await handler(new Request("http://x/v1/events?limit=1000"));
    expect(busy.status).toBe(429);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(await held.json()).toEqual({ data: events.reverse(), cursor: null });
    expect((await handler(new Request("http://x/v1/events"))).status).toBe(200);
  });

  it("fetch adapter: a body nobody pulls for drainTimeoutMs errors and frees its slot", async () => {
    const { api: a, store } = api({ maxConcurrentReads: 1 });
    await fill(store, 10, 100_000);
    const handler = createFetchHandler(a, { drainTimeoutMs: 100 });
    const held = await handler(new Request("http://x/v1/events?limit=1000"));
    const reader = held.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    expect((await handler(new Request("http://x/v1/events"))).status).toBe(429);
    await sleep(300);
    const next = await handler(new Request("http://x/v1/events?limit=1"));
    expect(next.status).toBe(200);
    await expect(reader.read()).rejects.toThrow(/drainTimeoutMs/);
    await next.body?.cancel();
  });
});

describe("node adapter: streamed reads", () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    while (servers.length > 0) await servers.pop()!.close();
  });

  it("streams a page as a chunked body that parses whole", async () => {
    const s = await startServer({});
    servers.push(s);
    const events = await fill(s.store, 40, 50_000);
    const res = await raw(s.url, { method: "GET", path: "/v1/events?limit=1000" });
    expect(res.status).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(res.json).toEqual({ data: events.reverse(), cursor: null });
  });

  it("destroys the connection of a client that stops reading after drainTimeoutMs, and frees its slot", async () => {
    // 48 MB: more than the kernel's socket buffers on both sides, so writing must stall.
    const s = await startServer(
      { maxConcurrentReads: 1, maxPageBytes: 64 * 1024 * 1024 },
      { drainTimeoutMs: 300 },
    );
    servers.push(s);
    await fill(s.store, 60, 800_000);
    const socket = connect(Number(new URL(s.url).port), "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => {
      socket.write("GET /v1/events?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      // Read the start of the answer, then stop reading for good.
      socket.once("data", () => {
        socket.pause();
        resolve();
      });
    });
    const read = () => raw(s.url, { method: "GET", path: "/v1/events?limit=1" });
    // The stalled read holds the only slot...
    expect((await read()).status).toBe(429);
    // ...until its connection is destroyed, drainTimeoutMs after the socket stopped draining.
    let status = 429;
    for (let i = 0; i < 200 && status === 429; i++) {
      await sleep(25);
      status = (await read()).status;
    }
    expect(status).toBe(200);
    socket.destroy();
  });
});
