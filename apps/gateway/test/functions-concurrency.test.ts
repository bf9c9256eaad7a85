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
}

async function allCompleted(url: string, ids: readonly string[]): Promise<boolean> {
  return waitFor(async () => {
    for (const id of ids) {
      const res = await httpRequest(`${url}/v1/events/${id}/runs`);
      if (res.status !== 200) return false;
      const runs = (JSON.parse(res.body) as { data: RunView[] }).data;
      if (runs.length !== 1 || runs[0]!.status !== "Completed") return false;
    }
    return true;
  }, 90_000);
}

describe.each<SdkVersion>(["v3", "v4"])(
  "concurrency limits across two gateways on one PostgreSQL (SDK %s)",
  (version) => {
    let pair: GatewayPair | undefined;
    let a: RunningGateway;
    let b: RunningGateway;
    let app: TestApp;

    beforeAll(async () => {
      pair = await startGatewayPair(version, {
        label: "fncc",
        app: { concurrency: true },
        ready: (ids) =>
          ids.includes(`seed-${version}-limited`) && ids.includes(`seed-${version}-per-user`),
      });
      ({ a, b, app } = pair);
    }, 60_000);

    afterAll(async () => {
      await pair?.close();
    });

    it("concurrency: 2 never has more than 2 steps executing at once across both gateways, and every run completes; no warning for it", async () => {
      const ids: string[] = [];
      const send = async (gw: RunningGateway, data: Record<string, unknown>) => {
        const res = await sendEvents(gw.url, "k", { name: "test/limited", data });
        expect(res.status).toBe(200);
        ids.push(res.body.ids![0]!);
      };
      const running = (n: number) =>
        waitFor(async () => ((await app.journal()).inFlight.limited?.now ?? 0) >= n, 20_000);
      // One run started by A, one by B (each gateway claims the runs it creates at once)...
      await send(a, { i: 0, ms: 1_000 });
      expect(await running(1)).toBe(true);
      await send(b, { i: 1, ms: 1_000 });
      expect(await running(2)).toBe(true);
      // ...then eight more through both while the slots are taken.
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => send(i % 2 === 0 ? a : b, { i: i + 2 })),
      );
      expect(await allCompleted(a.url, ids)).toBe(true);
      // Both gateways called some of them. Which one claims a run is a race (a loaded machine
      // can let one gateway win them all): send more, a pair at a time, until both did.
      const called = (gw: RunningGateway) =>
        gw.stdout().includes(`"functionId":"seed-${version}-limited"`);
      for (let round = 0; round < 10 && !(called(a) && called(b)); round++) {
        await Promise.all([send(a, { round, ms: 300 }), send(b, { round, ms: 300 })]);
        expect(await allCompleted(a.url, ids)).toBe(true);
      }
      expect(called(a) && called(b)).toBe(true);
      const { inFlight } = await app.journal();
      expect(inFlight.limited).toEqual({ now: 0, max: 2, done: ids.length });
      const fns = JSON.parse((await httpRequest(`${a.url}/v1/functions`)).body).data as {
        id: string;
        warnings: string[];
      }[];
      expect(fns.find((f) => f.id === `seed-${version}-limited`)!.warnings).toEqual([]);
    }, 120_000);

    it("concurrency { limit: 1, key: event.data.user }: one user's runs never overlap, two users' do", async () => {
      const ids: string[] = [];
      const events = ["ann", "bob", "ann", "bob", "ann", "bob"].map((user, i) => ({
        name: "test/per-user",
        data: { user, i, ms: 300 },
      }));
      const answers = await Promise.all(
        events.map((e, i) => sendEvents(i % 2 === 0 ? a.url : b.url, "k", e)),
      );
      for (const res of answers) {
        expect(res.status).toBe(200);
        ids.push(res.body.ids![0]!);
      }
      expect(await allCompleted(a.url, ids)).toBe(true);
      const { inFlight } = await app.journal();
      expect(inFlight["per-user:ann"]).toEqual({ now: 0, max: 1, done: 3 });
      expect(inFlight["per-user:bob"]).toEqual({ now: 0, max: 1, done: 3 });
      // Not one global limit: the two users ran side by side.
      expect(inFlight["per-user"]!.max).toBe(2);
    }, 120_000);

    it("/fn/register refuses a negative or non-numeric limit and a key that is not CEL, at its path; nothing is stored", async () => {
      const body = (concurrency: unknown) =>
        JSON.stringify({
          url: "http://127.0.0.1:9/api/inngest",
          appName: `bad-cc-${version}`,
          functions: [
            {
              id: `bad-cc-${version}-fn`,
              name: "fn",
              triggers: [{ event: "a/b" }],
              concurrency,
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
        [-1, "functions[0].concurrency"],
        [{ limit: "two" }, "functions[0].concurrency.limit"],
        [{ limit: 1, key: "event.data.(" }, "functions[0].concurrency.key"],
      ] as const) {
        const res = await httpRequest(`${a.url}/fn/register`, { method: "POST", body: body(bad) });
        expect(res.status).toBe(400);
        expect(res.body).toContain(where);
      }
      const fns = JSON.parse((await httpRequest(`${a.url}/v1/functions`)).body).data as {
        id: string;
      }[];
      expect(fns.some((f) => f.id === `bad-cc-${version}-fn`)).toBe(false);
    });
  },
);

describe("concurrency limits with the SQLite run store (one gateway, data dir)", () => {
  let started: AppAndGateway;
  beforeAll(async () => {
    started = await startAppAndGateway("v4", ["dev", "--data-dir", tempDir("evt-fn-cc-")], {
      concurrency: true,
    });
  }, 60_000);
  afterAll(async () => {
    await stopProcess(started.gw);
    await started.app.close();
  });

  it("holds concurrency: 2 and a per-user limit of 1, and every run completes", async () => {
    const { gw, app } = started;
    const events = [
      ...Array.from({ length: 6 }, (_, i) => ({ name: "test/limited", data: { i } })),
      ...["ann", "bob", "ann", "bob"].map((user, i) => ({
        name: "test/per-user",
        data: { user, i, ms: 300 },
      })),
    ];
    const res = await sendEvents(gw.url, "k", events);
    expect(res.status).toBe(200);
    expect(await allCompleted(gw.url, res.body.ids!)).toBe(true);
    const { inFlight } = await app.journal();
    expect(inFlight.limited).toEqual({ now: 0, max: 2, done: 6 });
    expect(inFlight["per-user:ann"]).toMatchObject({ max: 1, done: 2 });
    expect(inFlight["per-user:bob"]).toMatchObject({ max: 1, done: 2 });
    expect(inFlight["per-user"]!.max).toBe(2);
  }, 120_000);
});
