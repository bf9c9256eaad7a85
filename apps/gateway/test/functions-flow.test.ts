import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import {
  type AppAndGateway,
  type GatewayPair,
  type SdkVersion,
  startAppAndGateway,
  startGatewayPair,
  type TestApp,
} from "./sdk-apps";

interface RunView {
  function_id: string;
  status: string;
  created_at: string;
  started_at: string | null;
}

async function runsOf(url: string, id: string): Promise<RunView[]> {
  const res = await httpRequest(`${url}/v1/events/${id}/runs`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { data: RunView[] }).data;
}

async function allCompleted(url: string, ids: readonly string[]): Promise<boolean> {
  return waitFor(async () => {
    for (const id of ids) {
      const runs = await runsOf(url, id);
      if (runs.length !== 1 || runs[0]!.status !== "Completed") return false;
    }
    return true;
  }, 90_000);
}

/** The `evt_runs_skipped_total` of a function and reason on a gateway (0 when absent). */
async function skippedCount(gw: RunningGateway, fn: string, reason: string): Promise<number> {
  const metrics = (await httpRequest(`${gw.url}/metrics`)).body;
  const line = metrics
    .split("\n")
    .find((l) => l.startsWith(`evt_runs_skipped_total{function="${fn}",reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

/** Send each event on its own request, alternating gateways, all at once; their ids in order. */
async function sendEach(
  gws: RunningGateway[],
  events: { name: string; data: Record<string, unknown> }[],
): Promise<string[]> {
  const answers = await Promise.all(
    events.map((e, i) => sendEvents(gws[i % gws.length]!.url, "k", e)),
  );
  return answers.map((res) => {
    expect(res.status).toBe(200);
    return res.body.ids![0]!;
  });
}

describe.each<SdkVersion>(["v3", "v4"])(
  "priority, rateLimit, throttle and debounce across two gateways on one PostgreSQL (SDK %s)",
  (version) => {
    let pair: GatewayPair | undefined;
    let a: RunningGateway;
    let b: RunningGateway;
    let app: TestApp;
    const fnId = (name: string) => `seed-${version}-${name}`;

    beforeAll(async () => {
      // B ready once it has indexed the functions: events go to it at once.
      pair = await startGatewayPair(version, {
        label: "fnfl",
        app: { flow: true },
        ready: (ids) =>
          ["prioritised", "rate-limited", "rate-per-user", "throttled", "debounced"].every((n) =>
            ids.includes(fnId(n)),
          ),
      });
      ({ a, b, app } = pair);
    }, 60_000);

    afterAll(async () => {
      await pair?.close();
    });

    it("priority: a VIP run queued behind low ones (concurrency 1) is called first; no warning", async () => {
      const [blocker] = await sendEach(
        [a],
        [{ name: "test/prioritised", data: { tag: "blocker", ms: 1_500 } }],
      );
      const called = (tag: string) =>
        waitFor(
          async () =>
            (await app.journal()).calls.some((c) => c.fn === "prioritised" && c.data.tag === tag),
          20_000,
        );
      expect(await called("blocker")).toBe(true);
      // While the blocker holds the one slot: three low runs, then one VIP.
      const low = await sendEach(
        [a, b],
        ["low-1", "low-2", "low-3"].map((tag) => ({ name: "test/prioritised", data: { tag } })),
      );
      const [vip] = await sendEach(
        [b],
        [{ name: "test/prioritised", data: { tag: "vip", vip: true } }],
      );
      const all = [blocker!, ...low, vip!];
      const done = await allCompleted(a.url, all);
      const state = done
        ? ""
        : JSON.stringify(await Promise.all(all.map((id) => runsOf(a.url, id))));
      expect(done, `runs not completed: ${state}`).toBe(true);
      const order: string[] = [];
      for (const c of (await app.journal()).calls) {
        const tag = String(c.data.tag);
        if (c.fn === "prioritised" && !order.includes(tag)) order.push(tag);
      }
      expect(order.slice(0, 2)).toEqual(["blocker", "vip"]);
      expect(order).toHaveLength(5);
      const fns = JSON.parse((await httpRequest(`${a.url}/v1/functions`)).body).data as {
        id: string;
        warnings: string[];
      }[];
      expect(fns.find((f) => f.id === fnId("prioritised"))!.warnings).toEqual([]);
      expect(fns.find((f) => f.id === fnId("rate-limited"))!.warnings).toEqual([]);
    }, 120_000);

    it("rateLimit { limit: 2, period: 1m }: 5 events through both gateways start 2 runs; 3 start none and are counted", async () => {
      const ids = await sendEach(
        [a, b],
        Array.from({ length: 5 }, (_, i) => ({ name: "test/rate-limited", data: { i } })),
      );
      // Runs are created before the Event API answers.
      const counts = await Promise.all(ids.map(async (id) => (await runsOf(a.url, id)).length));
      expect(counts.filter((n) => n === 1)).toHaveLength(2);
      expect(counts.filter((n) => n === 0)).toHaveLength(3);
      expect(
        await allCompleted(
          a.url,
          ids.filter((_, i) => counts[i] === 1),
        ),
      ).toBe(true);
      const skipped =
        (await skippedCount(a, fnId("rate-limited"), "rate_limit")) +
        (await skippedCount(b, fnId("rate-limited"), "rate_limit"));
      expect(skipped).toBe(3);
      expect((await app.journal()).calls.filter((c) => c.fn === "rate-limited")).toHaveLength(2);
    }, 120_000);

    it("rateLimit with a key: one run per user per minute, across both gateways", async () => {
      const users = ["ann", "ann", "bob", "ann", "bob"];
      const ids = await sendEach(
        [a, b],
        users.map((user, i) => ({ name: "test/rate-per-user", data: { user, i } })),
      );
      const counts = await Promise.all(ids.map(async (id) => (await runsOf(b.url, id)).length));
      for (const user of ["ann", "bob"]) {
        expect(counts.filter((n, i) => users[i] === user && n === 1)).toHaveLength(1);
      }
      expect(counts.filter((n) => n === 0)).toHaveLength(3);
    }, 120_000);

    it("throttle { limit: 2, period: 2s }: 6 events through both gateways all run, none before its turn (one start a second from the first)", async () => {
      const ids = await sendEach(
        [a, b],
        Array.from({ length: 6 }, (_, i) => ({ name: "test/throttled", data: { i } })),
      );
      expect(await allCompleted(a.url, ids)).toBe(true);
      const runs = (await Promise.all(ids.map((id) => runsOf(a.url, id)))).map((r) => r[0]!);
      const first = Math.min(...runs.map((r) => Date.parse(r.created_at)));
      const starts = runs.map((r) => Date.parse(r.started_at!)).sort((x, y) => x - y);
      // The k-th start is reserved at least k seconds after the first event: no 2 s window
      // holds more than 2 reserved starts, and a run never starts before its reservation.
      starts.forEach((s, k) => {
        expect(s).toBeGreaterThanOrEqual(first + k * 1000);
      });
      expect((await app.journal()).calls.filter((c) => c.fn === "throttled")).toHaveLength(6);
    }, 120_000);

    it("debounce { period: 1s }: 3 events 300 ms apart through both gateways make one run, with the last event, started at least 1 s after it", async () => {
      const ids: string[] = [];
      for (const i of [0, 1, 2]) {
        if (i > 0) await new Promise((r) => setTimeout(r, 300));
        ids.push(
          ...(await sendEach([i % 2 === 0 ? a : b], [{ name: "test/debounced", data: { i } }])),
        );
      }
      expect(await allCompleted(a.url, ids.slice(2))).toBe(true);
      const calls = (await app.journal()).calls.filter((c) => c.fn === "debounced");
      expect(calls.map((c) => c.data.i)).toEqual([2]);
      const [last] = await runsOf(a.url, ids[2]!);
      expect(Date.parse(last!.started_at!)).toBeGreaterThanOrEqual(
        Date.parse(last!.created_at) + 1000,
      );
      // The earlier events' runs were replaced: cancelled, never called.
      for (const id of ids.slice(0, 2)) {
        expect((await runsOf(a.url, id)).map((r) => r.status)).toEqual(["Cancelled"]);
      }
    }, 120_000);

    it("/fn/register refuses bad priority, rateLimit, throttle and debounce shapes at their path; nothing is stored", async () => {
      const body = (extra: Record<string, unknown>) =>
        JSON.stringify({
          url: "http://127.0.0.1:9/api/inngest",
          appName: `bad-fl-${version}`,
          functions: [
            {
              id: `bad-fl-${version}-fn`,
              name: "fn",
              triggers: [{ event: "a/b" }],
              ...extra,
              steps: {
                step: {
                  id: "step",
                  runtime: { type: "http", url: "http://127.0.0.1:9/api/inngest?fnId=x" },
                },
              },
            },
          ],
        });
      for (const [bad, where] of [
        [{ priority: { run: "event.data.(" } }, "functions[0].priority.run"],
        [{ priority: "high" }, "functions[0].priority"],
        [{ rateLimit: { limit: -1, period: "1m" } }, "functions[0].rateLimit.limit"],
        [{ rateLimit: { limit: 2, period: "forever" } }, "functions[0].rateLimit.period"],
        [{ rateLimit: { limit: 2, period: "48h" } }, "functions[0].rateLimit.period"],
        [{ rateLimit: { limit: 2, period: "1m", key: 7 } }, "functions[0].rateLimit.key"],
        [{ rateLimit: { limit: 2, period: "1m", key: "event.(" } }, "functions[0].rateLimit.key"],
        [{ throttle: { limit: 0, period: "1m" } }, "functions[0].throttle.limit"],
        [{ throttle: { limit: 1, period: "1m", burst: "lots" } }, "functions[0].throttle.burst"],
        [{ throttle: { limit: 1, period: "1y" } }, "functions[0].throttle.period"],
        [{ debounce: { period: "later" } }, "functions[0].debounce.period"],
        [{ debounce: { period: "1s", timeout: 5 } }, "functions[0].debounce.timeout"],
        [{ debounce: { period: "1s", key: "event.(" } }, "functions[0].debounce.key"],
      ] as const) {
        const res = await httpRequest(`${a.url}/fn/register`, { method: "POST", body: body(bad) });
        expect(res.status, JSON.stringify(bad)).toBe(400);
        expect(res.body).toContain(where);
      }
      const fns = JSON.parse((await httpRequest(`${a.url}/v1/functions`)).body).data as {
        id: string;
      }[];
      expect(fns.some((f) => f.id === `bad-fl-${version}-fn`)).toBe(false);
    });
  },
);

describe("rateLimit and debounce with the SQLite run store (one gateway, data dir)", () => {
  let started: AppAndGateway;
  let gw: RunningGateway;
  beforeAll(async () => {
    started = await startAppAndGateway("v4", ["dev", "--data-dir", tempDir("evt-fn-fl-")], {
      flow: true,
    });
    gw = started.gw;
  }, 60_000);
  afterAll(async () => {
    await stopProcess(gw);
    await started.app.close();
  });

  it("starts 2 runs of 5 events and counts 3 skipped", async () => {
    const ids = await sendEach(
      [gw],
      Array.from({ length: 5 }, (_, i) => ({ name: "test/rate-limited", data: { i } })),
    );
    const counts = await Promise.all(ids.map(async (id) => (await runsOf(gw.url, id)).length));
    expect(counts.filter((n) => n === 1)).toHaveLength(2);
    expect(await skippedCount(gw, "seed-v4-rate-limited", "rate_limit")).toBe(3);
  }, 120_000);

  it("kill -9 during a debounce: after the restart the run happens once, with the last event", async () => {
    const ids = await sendEach(
      [gw],
      [0, 1].map((i) => ({ name: "test/debounced-long", data: { user: "kim", i } })),
    );
    gw.proc.kill("SIGKILL");
    await gw.exited;
    gw = await started.restart();
    expect(await allCompleted(gw.url, ids.slice(1))).toBe(true);
    // Past the period again: nothing more runs.
    await new Promise((r) => setTimeout(r, 3_500));
    const calls = (await started.app.journal()).calls.filter((c) => c.fn === "debounced-long");
    expect(calls.map((c) => c.data.i)).toEqual([1]);
    expect((await runsOf(gw.url, ids[0]!)).map((r) => r.status)).toEqual(["Cancelled"]);
  }, 120_000);
});
