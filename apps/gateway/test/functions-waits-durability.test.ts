import { afterAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  sleep,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import { type GatewayPair, startAppAndGateway, startGatewayPair, type TestApp } from "./sdk-apps";

interface RunView {
  run_id: string;
  status: string;
  output: unknown;
  waiting_for?: unknown[];
}

async function runOf(url: string, internalId: string): Promise<RunView | undefined> {
  const res = await httpRequest(`${url}/v1/events/${internalId}/runs`);
  if (res.status !== 200) return undefined;
  const list = (JSON.parse(res.body) as { data: RunView[] }).data;
  if (list[0] === undefined) return undefined;
  const detail = await httpRequest(`${url}/v1/runs/${list[0].run_id}`);
  return (JSON.parse(detail.body) as { data: RunView }).data;
}

async function send(url: string, events: unknown): Promise<string[]> {
  const res = await sendEvents(url, "k", events);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.ids!;
}

const allWaiting = (url: string, ids: readonly string[]) =>
  waitFor(async () => {
    for (const id of ids)
      if (((await runOf(url, id))?.waiting_for?.length ?? 0) === 0) return false;
    return true;
  }, 60_000);

const allCompleted = (url: string, ids: readonly string[]) =>
  waitFor(async () => {
    for (const id of ids) if ((await runOf(url, id))?.status !== "Completed") return false;
    return true;
  }, 60_000);

/** The waiter's `after` effects of one run id, by key. */
async function afterEffects(app: TestApp): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const e of (await app.journal()).effects) {
    if (e.fn !== "waiter" || e.key === "before") continue;
    out.set(e.runId, [...(out.get(e.runId) ?? []), e.key]);
  }
  return out;
}

describe("waits survive kill -9 (SQLite run store)", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("after a restart a matching event resumes each waiting run once, and a timeout passed while down fires once", async () => {
    const started = await startAppAndGateway(
      "v4",
      ["dev", "--data-dir", tempDir("evt-fn-waits-kill-")],
      { waits: true },
    );
    app = started.app;
    gw = started.gw;
    const longIds = await send(
      gw.url,
      Array.from({ length: 20 }, (_, i) => ({ name: "test/wait", data: { id: `k${i}` } })),
    );
    const shortIds = await send(
      gw.url,
      Array.from({ length: 5 }, (_, i) => ({
        name: "test/wait",
        data: { id: `t${i}`, timeout: "3s" },
      })),
    );
    const sentAt = Date.now();
    expect(await allWaiting(gw.url, [...longIds, ...shortIds])).toBe(true);

    gw.proc.kill("SIGKILL");
    await gw.exited;
    // Down past the short timeouts.
    await sleep(Math.max(0, sentAt + 4_000 - Date.now()));
    gw = await started.restart();

    await send(
      gw.url,
      Array.from({ length: 20 }, (_, i) => ({ name: "test/paid", data: { id: `k${i}`, n: i } })),
    );
    expect(await allCompleted(gw.url, [...longIds, ...shortIds])).toBe(true);
    for (const [i, id] of longIds.entries()) {
      expect((await runOf(gw.url, id))!.output).toEqual({
        id: `k${i}`,
        got: { id: `k${i}`, n: i },
      });
    }
    for (const id of shortIds)
      expect((await runOf(gw.url, id))!.output).toMatchObject({ got: null });
    // Each run's step after the wait ran once: once resumed, once timed out.
    const effects = await afterEffects(app);
    expect(effects.size).toBe(25);
    expect([...effects.values()].every((keys) => keys.length === 1)).toBe(true);
    expect([...effects.values()].filter((k) => k[0] === "timeout")).toHaveLength(5);
  }, 120_000);
});

describe("waits with two gateways on one PostgreSQL", () => {
  let pair: GatewayPair | undefined;

  afterAll(async () => {
    await pair?.close();
  });

  it("a wait recorded via gateway A is resumed by an event sent to gateway B, once even when two events race", async () => {
    pair = await startGatewayPair("v4", {
      label: "fnw",
      app: { waits: true },
      ready: (ids) => ids.length >= 14,
    });
    const { a, b, app } = pair;
    // B has looked at the waits once (none yet): the ones A records next reach it by its cursor.
    await send(b.url, { name: "test/paid", data: { id: "nobody" } });

    const ids = await send(
      a.url,
      Array.from({ length: 20 }, (_, i) => ({ name: "test/wait", data: { id: `p${i}` } })),
    );
    expect(await allWaiting(a.url, ids)).toBe(true);
    // Events for the first ten go to B only; for the others, one to each gateway at once.
    await send(
      b.url,
      Array.from({ length: 10 }, (_, i) => ({ name: "test/paid", data: { id: `p${i}`, n: i } })),
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, j) => j + 10).flatMap((i) => [
        send(a!.url, { name: "test/paid", data: { id: `p${i}`, n: i, via: "a" } }),
        send(b!.url, { name: "test/paid", data: { id: `p${i}`, n: i, via: "b" } }),
      ]),
    );
    expect(await allCompleted(b.url, ids)).toBe(true);
    for (const [i, id] of ids.entries()) {
      const out = (await runOf(b.url, id))!.output as { got: { id: string; n: number } };
      expect(out.got).toMatchObject({ id: `p${i}`, n: i });
    }
    const effects = await afterEffects(app);
    expect(effects.size).toBe(20);
    expect([...effects.values()].every((keys) => keys.length === 1)).toBe(true);
  }, 120_000);
});
