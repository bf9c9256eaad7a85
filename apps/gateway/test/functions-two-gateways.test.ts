import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest, type RunningGateway, sendEvents, waitFor } from "./helpers";
import { type GatewayPair, startGatewayPair, type TestApp } from "./sdk-apps";

interface RunView {
  run_id: string;
  function_id: string;
  status: string;
}

async function runsOf(url: string, internalId: string): Promise<RunView[]> {
  const res = await httpRequest(`${url}/v1/events/${internalId}/runs`);
  if (res.status !== 200) throw new Error(`runs of ${internalId}: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { data: RunView[] }).data;
}

async function allFinished(url: string, ids: readonly string[], perEvent: number) {
  return waitFor(async () => {
    for (const id of ids) {
      const runs = await runsOf(url, id);
      if (runs.length !== perEvent || runs.some((r) => r.status !== "Completed")) return false;
    }
    return true;
  }, 60_000);
}

describe("two gateways on one PostgreSQL and Redis run each function once per event", () => {
  let pair: GatewayPair | undefined;
  let a: RunningGateway;
  let b: RunningGateway;
  let app: TestApp;

  beforeAll(async () => {
    // B learns the functions A's sync stored, from the shared run store.
    pair = await startGatewayPair("v4", {
      label: "fn2",
      extraArgs: ["--run-lease", "3s"],
      ready: (ids) => ids.length >= 10,
    });
    ({ a, b, app } = pair);
  }, 60_000);

  afterAll(async () => {
    await pair?.close();
  });

  it("500 events sent to both: every event has one run of each function, and each function body ran once per run", async () => {
    const ids: string[] = [];
    const batches = Array.from({ length: 50 }, (_, i) =>
      Array.from({ length: 10 }, (_, j) => ({ name: "user.signup", data: { n: i * 10 + j } })),
    );
    for (let i = 0; i < batches.length; i += 5) {
      const answers = await Promise.all(
        batches
          .slice(i, i + 5)
          .map((batch, k) => sendEvents((i + k) % 2 === 0 ? a.url : b.url, "k", batch)),
      );
      for (const res of answers) {
        expect(res.status).toBe(200);
        ids.push(...res.body.ids!);
      }
    }
    expect(new Set(ids).size).toBe(500);
    expect(await allFinished(a.url, ids, 2)).toBe(true);

    const journal = await app.journal();
    const importCalls = new Map<string, number>();
    for (const c of journal.calls)
      if (c.fn === "import-contacts") importCalls.set(c.runId, (importCalls.get(c.runId) ?? 0) + 1);
    expect(importCalls.size).toBe(500);
    expect([...importCalls.values()].every((n) => n === 1)).toBe(true);
    const sent = journal.effects.filter((e) => e.fn === "send-welcome-email");
    expect(sent).toHaveLength(500);
    expect(new Set(sent.map((e) => e.runId)).size).toBe(500);
    // Both gateways did part of the work.
    const worked = (gw: RunningGateway) => /"msg":"run completed"/.test(gw.stdout());
    expect(worked(a) && worked(b)).toBe(true);
  }, 120_000);

  it("kill -9 of one gateway with calls in flight: the other finishes its runs after their leases end", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await sendEvents(a.url, "k", { name: "test/slow", data: { ms: 1500, i } });
      expect(res.status).toBe(200);
      ids.push(res.body.ids![0]!);
    }
    // Wait until A holds some of them in a call, then kill it.
    const inFlight = await waitFor(async () => {
      const journal = await app.journal();
      return journal.calls.filter((c) => c.fn === "slow").length >= 5;
    }, 10_000);
    expect(inFlight).toBe(true);
    a.proc.kill("SIGKILL");
    await a.exited;
    expect(await allFinished(b.url, ids, 1)).toBe(true);
    for (const id of ids) expect(await runsOf(b.url, id)).toHaveLength(1);
  }, 120_000);
});
