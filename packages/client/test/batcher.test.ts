import { EventClient, type EventSendError } from "@evt/client";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type FaultServer, gate, idsFor, json, ok, startFaultServer } from "./helpers/server";

let srv: FaultServer;
beforeAll(async () => {
  srv = await startFaultServer();
});
afterAll(async () => {
  await srv.close();
});
afterEach(() => {
  srv.requests.length = 0;
  srv.setHandler(ok);
});

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function client() {
  return new EventClient({
    baseUrl: srv.url,
    eventKey: "k",
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

describe("batcher: flush triggers", () => {
  it("sends when maxEvents events are queued, without waiting for the interval", async () => {
    const b = client().batcher({ maxEvents: 3, flushIntervalMs: HOUR });
    const ids = await Promise.all([1, 2, 3].map((i) => b.add({ name: "a/b", data: { i } })));
    expect(srv.requests).toHaveLength(1);
    expect(ids).toEqual(idsFor(srv.requests[0]!));
    await b.close();
  });

  it("sends before a batch would exceed maxBytes", async () => {
    // Each event is ~1 KB; 2 fit in 2,500 bytes, a third does not.
    const big = (i: number) => ({ name: "a/b", data: { i, s: "x".repeat(1_000) } });
    const b = client().batcher({ maxEvents: 100, maxBytes: 2_500, flushIntervalMs: HOUR });
    const first = [b.add(big(1)), b.add(big(2)), b.add(big(3))];
    await Promise.all(first.slice(0, 2));
    expect(srv.requests).toHaveLength(1);
    expect(srv.requests[0]!.events).toHaveLength(2);
    expect(Buffer.byteLength(srv.requests[0]!.body)).toBeLessThanOrEqual(2_500);
    await b.close();
    expect(srv.requests.map((r) => r.events.length)).toEqual([2, 1]);
  });

  it("sends a partial batch after flushIntervalMs", async () => {
    const b = client().batcher({ maxEvents: 100, flushIntervalMs: 20 });
    // Resolves only if the interval timer sends the batch (no flush, no close).
    const id = await b.add({ name: "a/b" });
    expect(id).toBe(idsFor(srv.requests[0]!)[0]);
    expect(b.size).toBe(0);
    await b.close();
  });

  it("flush() sends what is queued now and resolves when it is settled", async () => {
    const b = client().batcher({ maxEvents: 100, flushIntervalMs: HOUR });
    const p = b.add({ name: "a/b" });
    expect(srv.requests).toHaveLength(0);
    await b.flush();
    expect(srv.requests).toHaveLength(1);
    await expect(p).resolves.toBe(idsFor(srv.requests[0]!)[0]);
    await b.close();
  });

  it("sets ts when add() is called, not when the batch is sent", async () => {
    const b = client().batcher({ maxEvents: 100, flushIntervalMs: HOUR });
    const before = Date.now();
    void b.add({ name: "a/b" });
    const after = Date.now();
    await sleep(30);
    const flushedAt = Date.now();
    await b.flush();
    const ts = srv.requests[0]!.events[0]!.ts as number;
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after);
    expect(ts).toBeLessThan(flushedAt);
    await b.close();
  });
});

describe("batcher: errors", () => {
  it("rejects an invalid event at add() and sends nothing", async () => {
    const onError = vi.fn();
    const b = client().batcher({ onError });
    const err = await b.add({ name: "a/b", ts: 12 }).catch((e: unknown) => e as EventSendError);
    expect(err).toMatchObject({ code: "invalid_event" });
    expect((err as EventSendError).message).toContain(".ts");
    expect(onError).toHaveBeenCalledTimes(1);
    await b.close();
    expect(srv.requests).toHaveLength(0);
  });

  it("rejects every add of a batch that fails, and reports it once", async () => {
    srv.setHandler((_req, res) =>
      json(res, 401, { ids: [], status: 401, error: "Event key not found" }),
    );
    const onError = vi.fn();
    const b = client().batcher({ maxEvents: 3, flushIntervalMs: HOUR, onError });
    const results = await Promise.allSettled([1, 2, 3].map(() => b.add({ name: "a/b" })));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({
      code: "http_error",
      status: 401,
    });
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]![1]).toBe(3);
    expect(srv.requests).toHaveLength(1);
    await b.close();
  });

  it("logs failures nobody awaits instead of crashing with an unhandled rejection", async () => {
    srv.setHandler((_req, res) => json(res, 400, { ids: [], status: 400, error: "bad" }));
    const error = vi.fn();
    const evt = new EventClient({ baseUrl: srv.url, eventKey: "k", logger: { error } });
    const b = evt.batcher({ flushIntervalMs: HOUR });
    b.add({ name: "a/b" }); // not awaited on purpose
    await b.close();
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]![0]).toContain("HTTP 400");
  });

  it("rejects add() after close()", async () => {
    const b = client().batcher({ onError: () => {} });
    await b.close();
    await expect(b.add({ name: "a/b" })).rejects.toMatchObject({ code: "closed" });
  });

  it("rejects options out of range", () => {
    expect(() => client().batcher({ maxEvents: 0 })).toThrow(
      /maxEvents is 0; allowed: an integer in \[1, 5000\]/,
    );
    expect(() => client().batcher({ maxBytes: 10 ** 9 })).toThrow(/maxBytes/);
    expect(() => client().batcher({ onFull: "drop" as never })).toThrow(/onFull/);
  });
});

describe("batcher: backpressure", () => {
  it('onFull "reject" rejects adds past maxQueuedEvents with queue_full', async () => {
    const g = gate();
    srv.setHandler(async (req, res) => {
      await g.opened;
      ok(req, res);
    });
    const b = client().batcher({
      maxEvents: 1,
      maxQueuedEvents: 2,
      onFull: "reject",
      onError: () => {},
    });
    const a = b.add({ name: "a/1" });
    const c = b.add({ name: "a/2" });
    await expect(b.add({ name: "a/3" })).rejects.toMatchObject({
      code: "queue_full",
      retryable: true,
    });
    expect(b.size).toBe(2);
    g.open();
    await Promise.all([a, c]);
    await expect(b.add({ name: "a/4" })).resolves.toEqual(expect.any(String));
    await b.close();
    expect(srv.requests.flatMap((r) => r.events.map((e) => e.name))).toEqual(["a/1", "a/2", "a/4"]);
  });

  it('onFull "wait" holds adds until there is room, keeping their order', async () => {
    const g = gate();
    srv.setHandler(async (req, res) => {
      await g.opened;
      ok(req, res);
    });
    const b = client().batcher({ maxEvents: 2, maxQueuedEvents: 2, flushIntervalMs: HOUR });
    const settled: number[] = [];
    const adds = [0, 1, 2, 3, 4].map((i) =>
      b.add({ name: "a/b", data: { i } }).then((id) => {
        settled.push(i);
        return id;
      }),
    );
    await sleep(30);
    expect(srv.requests).toHaveLength(1); // only the first batch could be admitted
    expect(b.size).toBe(5);
    g.open();
    await Promise.all(adds);
    expect(settled).toEqual([0, 1, 2, 3, 4]);
    expect(srv.requests.flatMap((r) => r.events.map((e) => (e.data as { i: number }).i))).toEqual([
      0, 1, 2, 3, 4,
    ]);
    await b.close();
  });

  it("never has more than `concurrency` requests in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    srv.setHandler(async (req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await sleep(5);
      inFlight--;
      ok(req, res);
    });
    const b = client().batcher({ maxEvents: 10, concurrency: 3 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => b.add({ name: "a/b", data: { i } })));
    await b.close();
    expect(srv.requests).toHaveLength(30);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
  });
});

describe("batcher: close", () => {
  it("drains 20,000 adds under load: every promise settles, nothing lost or duplicated", async () => {
    srv.setHandler((req, res) => {
      // A flaky gateway: every 7th request fails once with 503 before it succeeds.
      if (req.n % 7 === 0) json(res, 503, { ids: [], status: 503, error: "busy" });
      else {
        srv.store(req);
        ok(req, res);
      }
    });
    const b = client().batcher({
      maxEvents: 500,
      maxQueuedEvents: 2_000,
      concurrency: 2,
      flushIntervalMs: HOUR,
    });
    const adds = Array.from({ length: 20_000 }, (_, i) => b.add({ name: "a/load", data: { i } }));
    await b.close();
    const results = await Promise.allSettled(adds);
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    const ids = results.map((r) => (r as PromiseFulfilledResult<string>).value);
    expect(new Set(ids).size).toBe(20_000);
    expect(srv.storedCount()).toBe(20_000);
    const stored = [...srv.stored.values()].flat().map((e) => (e.data as { i: number }).i);
    expect(new Set(stored).size).toBe(20_000);
    expect(b.size).toBe(0);
  });

  it("close() also sends adds that were waiting for room", async () => {
    const b = client().batcher({ maxEvents: 50, maxQueuedEvents: 10, flushIntervalMs: HOUR });
    const adds = Array.from({ length: 35 }, (_, i) => b.add({ name: "a/b", data: { i } }));
    await b.close();
    const results = await Promise.allSettled(adds);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(35);
    expect(srv.requests.reduce((n, r) => n + r.events.length, 0)).toBe(35);
  });

  it("close() is idempotent and resolves with failures settled as rejections", async () => {
    srv.setHandler((_req, res) => json(res, 500, { ids: [], status: 500, error: "down" }));
    const evt = new EventClient({
      baseUrl: srv.url,
      eventKey: "k",
      maxAttempts: 2,
      retry: { baseDelayMs: 1, maxDelayMs: 1 },
    });
    const b = evt.batcher({ onError: () => {} });
    const p = b.add({ name: "a/b" });
    expect(b.close()).toBe(b.close());
    await b.close();
    await expect(p).rejects.toMatchObject({ code: "http_error", retryable: true, attempts: 2 });
  });

  it("hooks beforeExit and SIGTERM only when asked, and unhooks on close", async () => {
    const beforeExit = process.listenerCount("beforeExit");
    const sigterm = process.listenerCount("SIGTERM");
    const plain = client().batcher();
    expect(process.listenerCount("beforeExit")).toBe(beforeExit);
    const b = client().batcher({ handleShutdown: true, flushIntervalMs: HOUR });
    expect(process.listenerCount("beforeExit")).toBe(beforeExit + 1);
    expect(process.listenerCount("SIGTERM")).toBe(sigterm + 1);
    const p = b.add({ name: "a/b" });
    // What Node does when the event loop empties: the hook drains the batcher.
    const ours = process.listeners("beforeExit").at(-1)!;
    ours(0);
    expect(b.closed).toBe(true);
    await expect(p).resolves.toEqual(expect.any(String));
    expect(process.listenerCount("beforeExit")).toBe(beforeExit);
    expect(process.listenerCount("SIGTERM")).toBe(sigterm);
    await plain.close();
  });
});
