import type { RunStore } from "@evt/functions";
import { createMemoryRunStore } from "@evt/functions/memory";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics, type Gateway, startGateway } from "../src/index";
import { httpRequest } from "./helpers";

// evt_runs_active counts runs in the run store: at most once per 5 s however often /metrics is
// scraped (and GET /v1/status asks), so that scrapes do not add work to a busy store.

/** A memory run store whose `countActive` calls are counted, and can be made to fail. */
function countingRuns() {
  const base = createMemoryRunStore();
  const counter = { counts: 0, fail: false, gate: null as Promise<void> | null };
  const runs: RunStore = Object.assign(Object.create(base) as RunStore, {
    countActive: async (now: number) => {
      counter.counts++;
      if (counter.gate !== null) await counter.gate;
      if (counter.fail) throw new Error("the run store does not answer");
      return base.countActive(now);
    },
  });
  return { base, runs, counter };
}

function gaugeLines(text: string): string[] {
  return text.split("\n").filter((l) => l.startsWith("evt_runs_active{"));
}

describe("evt_runs_active", () => {
  it("counts at most once per runsActiveMaxAgeMs, on the injected clock", async () => {
    const { runs, counter } = countingRuns();
    let clock = 1_000_000;
    const metrics = createMetrics({
      runsActive: () => runs.countActive(clock),
      runsActiveMaxAgeMs: 5_000,
      now: () => clock,
    });
    await metrics.render();
    await metrics.render();
    clock += 4_999;
    expect(gaugeLines(await metrics.render())).toContain('evt_runs_active{state="queued"} 0');
    expect(counter.counts).toBe(1);
    clock += 1;
    await metrics.render();
    expect(counter.counts).toBe(2);
  });

  it("shares one count between scrapes that arrive while it runs", async () => {
    const { runs, counter } = countingRuns();
    let open: () => void = () => {};
    counter.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const metrics = createMetrics({ runsActive: () => runs.countActive(Date.now()) });
    const scrapes = [metrics.render(), metrics.render(), metrics.runsActive()];
    await new Promise((resolve) => setTimeout(resolve, 10));
    open();
    const [a, b, status] = await Promise.all(scrapes);
    expect(counter.counts).toBe(1);
    expect(gaugeLines(a as string)).toEqual(gaugeLines(b as string));
    expect(status).toEqual({ queued: 0, due: 0, running: 0 });
  });

  it("does not keep a failed count: the next scrape counts again", async () => {
    const { runs, counter } = countingRuns();
    const metrics = createMetrics({ runsActive: () => runs.countActive(Date.now()) });
    counter.fail = true;
    await expect(metrics.runsActive()).rejects.toThrow(/does not answer/);
    await metrics.render();
    expect(counter.counts).toBe(2);
    counter.fail = false;
    expect(await metrics.runsActive()).toEqual({ queued: 0, due: 0, running: 0 });
    expect(await metrics.runsActive()).toEqual({ queued: 0, due: 0, running: 0 });
    expect(counter.counts).toBe(3);
  });

  it("says in its help text that the value may be up to 5 s old", async () => {
    const metrics = createMetrics({ runsActive: async () => ({ queued: 0, due: 0, running: 0 }) });
    expect(await metrics.render()).toMatch(
      /# HELP evt_runs_active .*the value may be up to 5 s old/,
    );
  });
});

describe("evt_runs_active in the gateway", () => {
  let gw: Gateway | null = null;
  afterEach(async () => {
    await gw?.close();
    gw = null;
  });

  it("/metrics scrapes and GET /v1/status share one count", async () => {
    const { runs, counter } = countingRuns();
    gw = await startGateway({
      mode: "dev",
      port: 0,
      dedup: "memory",
      store: "memory",
      logLevel: "silent",
      runStore: runs,
    });
    const before = counter.counts;
    for (let i = 0; i < 3; i++) {
      expect((await httpRequest(`${gw.url}/metrics`)).status).toBe(200);
    }
    const status = await httpRequest(`${gw.url}/v1/status`);
    expect(JSON.parse(status.body).data.runs).toEqual({ queued: 0, due: 0, running: 0 });
    expect(counter.counts - before).toBe(1);
  });
});
