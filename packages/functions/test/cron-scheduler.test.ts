import { type CronTick, createCronScheduler } from "@evt/functions";
import { createMemoryRunStore } from "@evt/functions/memory";
import type { CronEntry } from "@evt/triggers";
import { describe, expect, it } from "vitest";

const entry = (functionId: string, cron: string, jitterMs: number | null = null): CronEntry => ({
  functionId,
  triggerIndex: 0,
  cron,
  timezone: "UTC",
  jitter: jitterMs === null ? null : `${jitterMs}ms`,
  jitterMs,
});

function setup(crons: CronEntry[], start: number) {
  const runs = createMemoryRunStore();
  const fired: CronTick[] = [];
  let clock = start;
  const scheduler = createCronScheduler({
    runs,
    crons: () => crons,
    now: () => clock,
    random: () => 0.5,
    fire: async (tick) => {
      fired.push(tick);
    },
  });
  return {
    runs,
    fired,
    scheduler,
    at(ms: number) {
      clock = ms;
    },
  };
}

describe("the cron scheduler (injected clock)", () => {
  it("fires a TZ=Europe/Paris noon cron at 11:00 UTC in winter, once per tick", async () => {
    // Friday 2026-12-04, Paris is UTC+1.
    const t = setup(
      [entry("app-report", "TZ=Europe/Paris 0 12 * * 5")],
      Date.UTC(2026, 11, 4, 10, 0),
    );
    await t.scheduler.refresh();
    expect(t.scheduler.next().get("app-report")).toBe(Date.UTC(2026, 11, 4, 11, 0));
    t.at(Date.UTC(2026, 11, 4, 10, 59));
    await t.scheduler.check();
    expect(t.fired).toEqual([]);
    t.at(Date.UTC(2026, 11, 4, 11, 0, 0, 5));
    await t.scheduler.check();
    await t.scheduler.check();
    expect(t.fired).toEqual([
      {
        functionId: "app-report",
        cron: "TZ=Europe/Paris 0 12 * * 5",
        tickAt: Date.UTC(2026, 11, 4, 11, 0),
        dueAt: Date.UTC(2026, 11, 4, 11, 0),
      },
    ]);
    expect(t.scheduler.next().get("app-report")).toBe(Date.UTC(2026, 11, 11, 11, 0));
    expect(await t.runs.lastCronTick("app-report")).toBe(Date.UTC(2026, 11, 4, 11, 0));
    t.scheduler.stop();
  });

  it("adds the registered jitter to the due time, never to the tick", async () => {
    const t = setup([entry("app-j", "*/5 * * * *", 60_000)], Date.UTC(2026, 0, 1, 0, 1));
    await t.scheduler.refresh();
    t.at(Date.UTC(2026, 0, 1, 0, 5));
    await t.scheduler.check();
    expect(t.fired[0]).toMatchObject({
      tickAt: Date.UTC(2026, 0, 1, 0, 5),
      dueAt: Date.UTC(2026, 0, 1, 0, 5) + 30_000,
    });
    t.scheduler.stop();
  });

  it("after downtime runs the most recent missed tick once and skips older ones; a new function starts at its next tick", async () => {
    const t = setup([entry("app-daily", "0 9 * * *"), entry("app-new", "0 9 * * *")], 0);
    await t.runs.recordCronTick("app-daily", Date.UTC(2026, 11, 1, 9, 0)); // last ran Tuesday
    t.at(Date.UTC(2026, 11, 3, 12, 0)); // back on Thursday noon: Wed and Thu 09:00 missed
    await t.scheduler.refresh();
    expect(t.fired.map((f) => [f.functionId, f.tickAt])).toEqual([
      ["app-daily", Date.UTC(2026, 11, 3, 9, 0)],
    ]);
    expect(t.scheduler.next().get("app-new")).toBe(Date.UTC(2026, 11, 4, 9, 0));
    // A second refresh (another sync) fires nothing again.
    await t.scheduler.refresh();
    expect(t.fired).toHaveLength(1);
    t.scheduler.stop();
  });

  it("a changed schedule replaces the old one; a removed function is no longer fired", async () => {
    const crons = [entry("app-a", "0 * * * *")];
    const t = setup(crons, Date.UTC(2026, 0, 1, 0, 30));
    await t.scheduler.refresh();
    expect(t.scheduler.next().get("app-a")).toBe(Date.UTC(2026, 0, 1, 1, 0));
    crons[0] = entry("app-a", "15 * * * *");
    await t.scheduler.refresh();
    expect(t.scheduler.next().get("app-a")).toBe(Date.UTC(2026, 0, 1, 1, 15));
    crons.length = 0;
    await t.scheduler.refresh();
    t.at(Date.UTC(2026, 0, 1, 2, 0));
    await t.scheduler.check();
    expect(t.fired).toEqual([]);
    t.scheduler.stop();
  });

  it("a fire that fails is tried again at the next check, not skipped", async () => {
    const runs = createMemoryRunStore();
    let fail = true;
    const fired: number[] = [];
    let clock = Date.UTC(2026, 0, 1, 0, 0, 30);
    const scheduler = createCronScheduler({
      runs,
      crons: () => [entry("app-f", "* * * * *")],
      now: () => clock,
      fire: async (tick) => {
        if (fail) throw new Error("store down");
        fired.push(tick.tickAt);
      },
    });
    await scheduler.refresh();
    clock = Date.UTC(2026, 0, 1, 0, 1, 1);
    await scheduler.check();
    expect(fired).toEqual([]);
    fail = false;
    await scheduler.check();
    expect(fired).toEqual([Date.UTC(2026, 0, 1, 0, 1)]);
    scheduler.stop();
  });
});
