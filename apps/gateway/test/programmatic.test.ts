import { Writable } from "node:stream";
import { createMemoryStore } from "@evt/dedup";
import { createMemoryEventStore, type StoredEvent } from "@evt/store";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { startGateway } from "../src/index";
import { startRetention, sweepIntervalMs } from "../src/retention";

function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: "trace" }, stream), lines };
}

const event = (internal_id: string, received_at: number): StoredEvent => ({
  internal_id,
  id: null,
  name: "test/retention",
  data: {},
  user: null,
  ts: received_at,
  v: null,
  env: "production",
  received_at,
  source: null,
  source_id: null,
});

describe("startGateway (in-process)", () => {
  it("passes maxPageBytes to the read API: a page stops at the budget with a cursor", async () => {
    const store = createMemoryEventStore();
    const blob = "b".repeat(40_000);
    await store.append([
      { ...event("01JAAAAAAAAAAAAAAAAAAAAAA1", 1_000), data: { blob } },
      { ...event("01JAAAAAAAAAAAAAAAAAAAAAA2", 2_000), data: { blob } },
    ]);
    const gw = await startGateway({
      mode: "dev",
      port: 0,
      logLevel: "silent",
      maxPageBytes: 64 * 1024,
      stores: { dedup: createMemoryStore(), store },
    });
    try {
      const page = (await (await fetch(`${gw.url}/v1/events?limit=1000`)).json()) as {
        data: StoredEvent[];
        cursor: string | null;
      };
      expect(page.data.map((e) => e.internal_id)).toEqual(["01JAAAAAAAAAAAAAAAAAAAAAA2"]);
      expect(page.cursor).toEqual(expect.any(String));
    } finally {
      await gw.close();
    }
  });

  it("serves the Event API and /metrics, then closes the stores it was given", async () => {
    const { logger, lines } = captureLogger();
    const dedup = createMemoryStore();
    const store = createMemoryEventStore();
    const gw = await startGateway({ mode: "dev", port: 0, logger, stores: { dedup, store } });
    try {
      expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(gw.summary).toBe(
        `evt-gateway dev listening on ${gw.url} (dedup: memory, store: memory, runs: memory)`,
      );
      const res = await fetch(`${gw.url}/e/k`, { method: "POST", body: '{"name":"app/x"}' });
      expect(res.status).toBe(200);
      const { ids } = (await res.json()) as { ids: string[] };
      expect(await store.get(ids[0]!, "production")).not.toBeNull();
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/^evt_events_accepted_total 1$/m);
    } finally {
      await gw.close();
    }
    await expect(store.ping()).rejects.toThrow();
    expect(lines.join("")).toContain('"msg":"closed"');
  });

  it("refuses invalid options with the option name", async () => {
    await expect(startGateway({ port: -1 })).rejects.toThrow(
      "options.port -1 is not valid: expected an integer 0..65535",
    );
    await expect(startGateway({ mode: "start" })).rejects.toThrow(/at least one event key/);
  });
});

describe("retention sweep", () => {
  it("deletes events received before now - retention", async () => {
    const { logger, lines } = captureLogger();
    const store = createMemoryEventStore();
    const now = 1_800_000_000_000;
    const day = 86_400_000;
    await store.append([
      event("01J00000000000000000000001", now - 40 * day),
      event("01J00000000000000000000002", now - day),
    ]);
    const sweep = startRetention(store, 30 * day, logger, () => now);
    try {
      expect(await sweep.runOnce()).toBe(1);
      expect(await store.get("01J00000000000000000000001", "production")).toBeNull();
      expect(await store.get("01J00000000000000000000002", "production")).not.toBeNull();
      expect(lines.join("")).toContain('"deleted":1');
    } finally {
      await sweep.stop();
    }
  });

  it("does nothing when off and schedules between 1 minute and 1 hour", async () => {
    const { logger } = captureLogger();
    const sweep = startRetention(createMemoryEventStore(), null, logger);
    expect(await sweep.runOnce()).toBe(0);
    await sweep.stop();
    expect(sweepIntervalMs(30 * 86_400_000)).toBe(3_600_000);
    expect(sweepIntervalMs(3_600_000)).toBe(150_000);
    expect(sweepIntervalMs(1000)).toBe(60_000);
  });
});
