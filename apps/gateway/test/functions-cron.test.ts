import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropTestData,
  httpRequest,
  POSTGRES_URL,
  REDIS_URL,
  type RunningGateway,
  startGatewayProcess,
  stopProcess,
  uniqueSuffix,
  waitFor,
} from "./helpers";
import { freePort, startSeedApp, type TestApp } from "./sdk-apps";

interface TickEvent {
  internal_id: string;
  id: string;
  ts: number;
  data: { cron: string };
}

describe("a * * * * * cron with two gateways on one PostgreSQL and Redis", () => {
  const suffix = uniqueSuffix();
  const tablePrefix = `fncron_${suffix}_`;
  const redisPrefix = `fncron:${suffix}:`;
  let a: RunningGateway;
  let b: RunningGateway;
  let app: TestApp;
  const shared = [
    "--dedup",
    REDIS_URL,
    "--store",
    POSTGRES_URL,
    "--pg-table-prefix",
    tablePrefix,
    "--redis-prefix",
    redisPrefix,
  ];

  beforeAll(async () => {
    const portA = await freePort();
    app = await startSeedApp("v4", `http://127.0.0.1:${portA}`, { cron: "* * * * *" });
    a = await startGatewayProcess([
      "dev",
      "--port",
      String(portA),
      ...shared,
      "--app-url",
      app.url,
    ]);
    b = await startGatewayProcess(["dev", "--port", "0", ...shared]);
    const seen = await waitFor(async () => {
      const res = await httpRequest(`${b.url}/v1/functions`);
      return JSON.parse(res.body).data.some((f: { id: string }) => f.id === "seed-v4-minutely");
    }, 20_000);
    expect(seen).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await stopProcess(a);
    await stopProcess(b);
    await app?.close();
    await dropTestData(redisPrefix, tablePrefix);
  });

  it("runs once per minute over two minutes: one inngest/scheduled.timer event and one run per tick, whichever gateway fired it", async () => {
    let ticks: TickEvent[] = [];
    const twoTicks = await waitFor(async () => {
      const res = await httpRequest(`${b.url}/v1/events?name=inngest/scheduled.timer&limit=100`);
      ticks = JSON.parse(res.body).data;
      return ticks.length >= 2;
    }, 150_000);
    expect(twoTicks, JSON.stringify(ticks)).toBe(true);
    // Each tick's event is stored once (both gateways fired it: the id deduplicates).
    const byTick = new Map<number, TickEvent[]>();
    for (const t of ticks) byTick.set(t.ts, [...(byTick.get(t.ts) ?? []), t]);
    for (const [ts, events] of byTick) {
      expect(events, `tick ${new Date(ts).toISOString()}`).toHaveLength(1);
      expect(ts % 60_000).toBe(0);
      expect(events[0]!).toMatchObject({
        id: `cron:seed-v4-minutely:${ts}`,
        data: { cron: "* * * * *" },
        source: "cron",
        source_id: null,
      });
    }
    for (const t of ticks) {
      let runs: { run_id: string; status: string }[] = [];
      await waitFor(async () => {
        runs = JSON.parse(
          (await httpRequest(`${a.url}/v1/events/${t.internal_id}/runs`)).body,
        ).data;
        return runs.length === 1 && runs[0]!.status === "Completed";
      });
      expect(runs).toMatchObject([{ status: "Completed" }]);
      const calls = (await app.journal()).calls.filter((c) => c.runId === runs[0]!.run_id);
      expect(calls).toEqual([
        expect.objectContaining({
          fn: "minutely",
          data: expect.objectContaining({ name: "inngest/scheduled.timer" }),
        }),
      ]);
    }
  }, 180_000);
});
