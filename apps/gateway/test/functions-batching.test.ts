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
  type Journal,
  type SdkVersion,
  startAppAndGateway,
  startGatewayPair,
  type TestApp,
} from "./sdk-apps";

interface RunView {
  run_id: string;
  function_id: string;
  status: string;
  event_id: string;
  event_ids?: string[];
  created_at: string;
  started_at: string | null;
}

/** What a batched function of the seed app saw in one call. */
interface BatchCall {
  runId: string;
  first: number | null;
  ns: number[];
  users: (string | null)[];
  ids: string[];
}

async function getJson<T>(url: string): Promise<T> {
  const res = await httpRequest(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as T;
}

const runsOf = async (gw: RunningGateway, internalId: string) =>
  (await getJson<{ data: RunView[] }>(`${gw.url}/v1/events/${internalId}/runs`)).data;

function callsOf(journal: Journal, fn: string): BatchCall[] {
  return journal.calls
    .filter((c) => c.fn === fn)
    .map((c) => ({ runId: c.runId, ...(c.data as unknown as Omit<BatchCall, "runId">) }));
}

/** The calls of `fn` once there are `count` and every run of `ids` has completed. */
async function batchCalls(
  app: TestApp,
  gw: RunningGateway,
  fn: string,
  count: number,
  ids: readonly string[],
): Promise<BatchCall[]> {
  let calls: BatchCall[] = [];
  const done = await waitFor(async () => {
    calls = callsOf(await app.journal(), fn);
    if (calls.length < count) return false;
    for (const id of ids) {
      const runs = (await runsOf(gw, id)).filter((r) => r.function_id.endsWith(`-${fn}`));
      if (runs.length !== 1 || runs[0]!.status !== "Completed") return false;
    }
    return true;
  }, 30_000);
  if (!done) throw new Error(`${fn}: ${JSON.stringify(calls)}\n${gw.stdout().slice(-3000)}`);
  return calls;
}

const numbered = (name: string, from: number, to: number, extra: object = {}) =>
  Array.from({ length: to - from }, (_, i) => ({ name, data: { n: from + i, ...extra } }));

describe.each(["v4", "v3"] as SdkVersion[])("batchEvents with the inngest SDK %s", (version) => {
  let started: AppAndGateway;
  let gw: RunningGateway;

  beforeAll(async () => {
    started = await startAppAndGateway(version, ["dev", "--data-dir", tempDir("evt-batch-")], {
      batch: true,
    });
    gw = started.gw;
  }, 60_000);

  afterAll(async () => {
    await stopProcess(gw);
    await started?.app.close();
  });

  it("7 events to maxSize 5 / timeout 2s: one run gets 5 events, the other 2 after the timeout; the runs API lists each batch", async () => {
    const sent = await sendEvents(gw.url, "k", numbered("test/batch", 0, 7));
    expect(sent.status).toBe(200);
    const ids = sent.body.ids!;
    const calls = await batchCalls(started.app, gw, "batched", 2, ids);
    expect(calls.map((c) => c.ns)).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6],
    ]);
    expect(calls.map((c) => c.first)).toEqual([0, 5]);
    expect(calls[0]!.ids).toEqual(ids.slice(0, 5));

    // GET /v1/events/:id/runs finds the batch from any of its events.
    const [full] = await runsOf(gw, ids[3]!);
    expect(full!.run_id).toBe(calls[0]!.runId);
    const [partial] = await runsOf(gw, ids[6]!);
    expect(partial!.run_id).toBe(calls[1]!.runId);
    // The batch of 2 started only when its timeout ran out.
    expect(
      Date.parse(partial!.started_at!) - Date.parse(partial!.created_at),
    ).toBeGreaterThanOrEqual(2_000);
    const detail = (await getJson<{ data: RunView }>(`${gw.url}/v1/runs/${full!.run_id}`)).data;
    expect(detail.event_id).toBe(ids[0]);
    expect(detail.event_ids).toEqual(ids.slice(0, 5));
  }, 60_000);

  it("with key event.data.user batches never mix users; an event failing `if` runs alone at once", async () => {
    const events = [
      { name: "test/batch.user", data: { n: 0, user: "a" } },
      { name: "test/batch.user", data: { n: 1, user: "b" } },
      { name: "test/batch.user", data: { n: 2, user: "a" } },
      { name: "test/batch.user", data: { n: 3, user: "b" } },
      { name: "test/batch.user", data: { n: 4, user: "a" } },
      { name: "test/batch.user", data: { n: 5, user: "a", batch: false } },
    ];
    const sent = await sendEvents(gw.url, "k", events);
    expect(sent.status).toBe(200);
    const calls = await batchCalls(started.app, gw, "batched-by-user", 3, sent.body.ids!);
    expect(calls).toHaveLength(3);
    const byFirst = new Map(calls.map((c) => [c.first, c]));
    expect(byFirst.get(0)!.ns).toEqual([0, 2, 4]);
    expect(byFirst.get(1)!.ns).toEqual([1, 3]);
    expect(byFirst.get(5)!.ns).toEqual([5]);
    for (const c of calls) expect(new Set(c.users).size).toBe(1);
  }, 60_000);

  it("kill -9 with an open batch: after the restart it runs once with all its events", async () => {
    const sent = await sendEvents(gw.url, "k", numbered("test/batch", 100, 103));
    expect(sent.status).toBe(200);
    gw.proc.kill("SIGKILL");
    await gw.exited;
    gw = await started.restart();
    const ids = sent.body.ids!;
    const calls = await batchCalls(started.app, gw, "batched", 3, ids);
    const mine = calls.filter((c) => c.ns.some((n) => n >= 100));
    expect(mine.map((c) => c.ns)).toEqual([[100, 101, 102]]);
    expect(
      new Set(await Promise.all(ids.map(async (id) => (await runsOf(gw, id))[0]!.run_id))).size,
    ).toBe(1);
  }, 60_000);

  it("refuses a batchEvents it cannot honour at /fn/register, saying where and what is allowed", async () => {
    const body = (batchEvents: unknown) =>
      JSON.stringify({
        url: "http://127.0.0.1:1/api/inngest",
        appName: "hostile-batch",
        functions: [
          {
            id: "hostile-batch-x",
            name: "x",
            triggers: [{ event: "a/b" }],
            batchEvents,
            steps: { step: { id: "step", runtime: { type: "http", url: "http://127.0.0.1:1/x" } } },
          },
        ],
      });
    const cases: [unknown, RegExp][] = [
      [{ maxSize: 0, timeout: "2s" }, /batchEvents\.maxSize.*integer from 1 to 1000/],
      [{ maxSize: 1e9, timeout: "2s" }, /batchEvents\.maxSize.*from 1 to 1000/],
      [{ maxSize: 2.5, timeout: "2s" }, /batchEvents\.maxSize/],
      [{ maxSize: 5, timeout: "soon" }, /batchEvents\.timeout.*duration from 1s to 10m/],
      [{ maxSize: 5, timeout: "100ms" }, /batchEvents\.timeout/],
      [{ maxSize: 5, timeout: "2h" }, /batchEvents\.timeout/],
      [{ maxSize: 5, timeout: "2s", key: "event.data.user ==" }, /batchEvents\.key/],
      [{ maxSize: 5, timeout: "2s", if: "event.data.(" }, /batchEvents\.if/],
      ["5", /batchEvents.*must be an object/],
    ];
    for (const [value, message] of cases) {
      const res = await httpRequest(`${gw.url}/fn/register`, { method: "POST", body: body(value) });
      expect(res.status, JSON.stringify(value)).toBe(400);
      expect(JSON.parse(res.body).error, JSON.stringify(value)).toMatch(message);
    }
    const fns = (await getJson<{ data: { id: string }[] }>(`${gw.url}/v1/functions`)).data;
    expect(fns.some((f) => f.id === "hostile-batch-x")).toBe(false);
  });
});

describe.each(["v4", "v3"] as SdkVersion[])(
  "batchEvents across two gateways on one PostgreSQL (SDK %s)",
  (version) => {
    let pair: GatewayPair | undefined;
    let a: RunningGateway;
    let b: RunningGateway;
    let app: TestApp;

    beforeAll(async () => {
      pair = await startGatewayPair(version, {
        label: "fnb",
        app: { batch: true },
        ready: (ids) => ids.includes(`seed-${version}-batched`),
      });
      ({ a, b, app } = pair);
    }, 60_000);

    afterAll(async () => {
      await pair?.close();
    });

    it("4 events to one gateway and 3 to the other give one run of 5 and one of 2", async () => {
      const first = await sendEvents(a.url, "k", numbered("test/batch", 0, 4));
      const second = await sendEvents(b.url, "k", numbered("test/batch", 4, 7));
      expect([first.status, second.status]).toEqual([200, 200]);
      const ids = [...first.body.ids!, ...second.body.ids!];
      const calls = await batchCalls(app, a, "batched", 2, ids);
      expect(calls).toHaveLength(2);
      expect(calls.map((c) => c.ns)).toEqual([
        [0, 1, 2, 3, 4],
        [5, 6],
      ]);
    }, 60_000);

    it("the same, sent to both at once: never split or doubled, one run of 5 and one of 2", async () => {
      // Both requests race: their appends meet at the open batch's row lock in PostgreSQL.
      const [first, second] = await Promise.all([
        sendEvents(a.url, "k", numbered("test/batch", 10, 14)),
        sendEvents(b.url, "k", numbered("test/batch", 14, 17)),
      ]);
      expect([first.status, second.status]).toEqual([200, 200]);
      const ids = [...first.body.ids!, ...second.body.ids!];
      const calls = (await batchCalls(app, a, "batched", 4, ids)).filter((c) => c.ns[0]! >= 10);
      expect(calls.map((c) => c.ns.length).sort()).toEqual([2, 5]);
      expect(calls.flatMap((c) => c.ns).sort((x, y) => x - y)).toEqual([
        10, 11, 12, 13, 14, 15, 16,
      ]);
      // Each event is in one run: the one whose events list holds it.
      for (const c of calls)
        for (const id of c.ids)
          expect((await runsOf(a, id)).map((r) => r.run_id)).toEqual([c.runId]);
    }, 60_000);
  },
);
