import { EventClient, EventSendError } from "@evt/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chunkBody, planChunks } from "../src/chunk";
import { utf8Length } from "../src/prepare";
import { type FaultServer, idsFor, json, ok, startFaultServer } from "./helpers/server";

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

/** 10,000 events of mixed sizes: mostly small, some ~2 KB, a few ~30 KB, some multi-byte text. */
function mixedEvents(n = 10_000) {
  return Array.from({ length: n }, (_, i) => {
    const kind = i % 97 === 0 ? 30_000 : i % 7 === 0 ? 2_000 : 20;
    const text = (i % 5 === 0 ? "é€😀" : "x").repeat(Math.ceil(kind / (i % 5 === 0 ? 9 : 1)));
    return { name: "app/mixed", data: { i, text } };
  });
}

describe("planChunks", () => {
  const ev = (bytes: number) => ({ json: "x".repeat(bytes), bytes });

  it("fills a request up to exactly maxBytes, brackets and commas included", () => {
    // [a,b] with a=b=4 bytes -> 2 + 4 + 1 + 4 = 11
    expect(planChunks([ev(4), ev(4), ev(4)], 11, 100)).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 3 },
    ]);
    expect(planChunks([ev(4), ev(4)], 10, 100)).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
    ]);
    expect(utf8Length(chunkBody([ev(4), ev(4)], 0, 2))).toBe(11);
  });

  it("caps the number of events per request", () => {
    const chunks = planChunks(
      Array.from({ length: 7 }, () => ev(1)),
      1_000,
      3,
    );
    expect(chunks.map((c) => c.end - c.start)).toEqual([3, 3, 1]);
  });

  it("counts UTF-8 bytes, not UTF-16 units", () => {
    expect(utf8Length("aé€😀")).toBe(1 + 2 + 3 + 4);
    expect(utf8Length(JSON.stringify({ s: "é€😀\u0000" }))).toBe(
      new TextEncoder().encode(JSON.stringify({ s: "é€😀\u0000" })).length,
    );
  });
});

describe("send: chunking", () => {
  it("splits 10,000 mixed events into requests within both limits, ids in input order", async () => {
    const maxRequestBytes = 256 * 1024;
    const events = mixedEvents();
    const evt = new EventClient({
      baseUrl: srv.url,
      eventKey: "k",
      maxRequestBytes,
      maxEventsPerRequest: 1_000,
    });
    const { ids } = await evt.send(events);

    expect(srv.requests.length).toBeGreaterThan(10);
    for (const req of srv.requests) {
      expect(Buffer.byteLength(req.body, "utf8")).toBeLessThanOrEqual(maxRequestBytes);
      expect(req.events.length).toBeLessThanOrEqual(1_000);
    }
    const sentOrder = srv.requests.flatMap((r) => r.events.map((e) => (e.data as { i: number }).i));
    expect(sentOrder).toEqual(events.map((_, i) => i));
    expect(ids).toEqual(srv.requests.flatMap((r) => idsFor(r)));
    expect(new Set(ids).size).toBe(10_000);
  });

  it("uses one ts for every event of a send, across all its requests", async () => {
    const evt = new EventClient({ baseUrl: srv.url, eventKey: "k", maxEventsPerRequest: 100 });
    await evt.send(Array.from({ length: 1_000 }, (_, i) => ({ name: "a/b", data: { i } })));
    const ts = new Set(srv.requests.flatMap((r) => r.events.map((e) => e.ts)));
    expect(srv.requests).toHaveLength(10);
    expect(ts.size).toBe(1);
  });

  it("sends 10,000 small events as two requests of 5,000 by default", async () => {
    const evt = new EventClient({ baseUrl: srv.url, eventKey: "k" });
    await evt.send(Array.from({ length: 10_000 }, (_, i) => ({ name: "a/b", data: { i } })));
    expect(srv.requests.map((r) => r.events.length)).toEqual([5_000, 5_000]);
  });

  it("refuses an event larger than one request before sending anything", async () => {
    const evt = new EventClient({ baseUrl: srv.url, eventKey: "k", maxRequestBytes: 10_000 });
    const err = await evt
      .send([{ name: "a/ok" }, { name: "a/big", data: { s: "x".repeat(20_000) } }])
      .catch((e: unknown) => e as EventSendError);
    expect(err).toBeInstanceOf(EventSendError);
    expect(err).toMatchObject({ code: "event_too_large", retryable: false });
    expect((err as EventSendError).message).toMatch(/events\[1\] is \d+ bytes/);
    expect((err as EventSendError).message).toContain("9998");
    expect(srv.requests).toHaveLength(0);
  });

  it("says which events were accepted and which were not when a later request fails", async () => {
    srv.setHandler((req, res) =>
      req.n === 3
        ? json(res, 422, { ids: [], status: 422, error: "rejected chunk" })
        : ok(req, res),
    );
    const evt = new EventClient({ baseUrl: srv.url, eventKey: "k", maxEventsPerRequest: 2_000 });
    const events = Array.from({ length: 10_000 }, (_, i) => ({ name: "a/b", data: { i } }));
    const err = (await evt.send(events).catch((e: unknown) => e)) as EventSendError;

    expect(err).toBeInstanceOf(EventSendError);
    expect(srv.requests).toHaveLength(3); // the 4th and 5th requests were never sent
    expect(err).toMatchObject({
      code: "http_error",
      status: 422,
      retryable: false,
      serverMessage: "rejected chunk",
    });
    const accepted = [...idsFor(srv.requests[0]!), ...idsFor(srv.requests[1]!)];
    expect(err.acceptedIds).toHaveLength(10_000);
    expect(err.acceptedIds!.slice(0, 4_000)).toEqual(accepted);
    expect(err.acceptedIds!.slice(4_000).every((id) => id === null)).toBe(true);
    expect(err.failedIndexes).toEqual(Array.from({ length: 6_000 }, (_, k) => 4_000 + k));
    expect(err.message).toContain("request 3 of 5 (events[4000..5999])");
    expect(err.message).toContain("events[0..3999] were accepted");
    expect(err.message).toContain("events[4000..9999] were not");

    // Resending just the failed events works.
    srv.setHandler(ok);
    const again = await evt.send(err.failedIndexes!.map((i) => events[i]!));
    expect(again.ids).toHaveLength(6_000);
  });
});
