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
import { startAppAndGateway, type TestApp } from "./sdk-apps";

interface RunView {
  run_id: string;
  function_id: string;
  status: string;
  steps?: { op: string }[];
}

async function runsOf(url: string, internalId: string): Promise<RunView[]> {
  const res = await httpRequest(`${url}/v1/events/${internalId}/runs`);
  if (res.status !== 200) throw new Error(`runs of ${internalId}: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { data: RunView[] }).data;
}

describe("functions survive kill -9 of the gateway (SQLite run store, the default)", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("50 runs sleeping in step.sleep and events ingested during the kill: after restart each run completes once, each acknowledged event has its runs once", async () => {
    const started = await startAppAndGateway("v4", ["dev", "--data-dir", tempDir("evt-fn-kill-")]);
    app = started.app;
    gw = started.gw;
    const port = Number(new URL(gw.url).port);

    // 50 runs that memoize "before", then sleep. The kill must land while they sleep: a step
    // in flight at the kill is replayed (at least once, as the SDK allows), a memoized one never.
    const SLEEP_MS = 8_000;
    const firstSent = Date.now();
    const sleepers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const sent = await sendEvents(gw!.url, "k", {
          name: "test/sleep",
          data: { sleep: `${SLEEP_MS / 1000}s`, i },
        });
        expect(sent.status).toBe(200);
        return sent.body.ids![0]!;
      }),
    );
    const sleeping = await waitFor(async () => {
      for (const id of sleepers) {
        const [run] = await runsOf(gw!.url, id);
        if (run === undefined) return false;
        const detail = JSON.parse((await httpRequest(`${gw!.url}/v1/runs/${run.run_id}`)).body)
          .data as RunView;
        if (!detail.steps?.some((s) => s.op === "Sleep")) return false;
      }
      return true;
    }, 20_000);
    expect(sleeping).toBe(true);

    // Ingest in the background; kill -9 in the middle of it.
    const acked: string[] = [];
    let sending = true;
    const producer = (async () => {
      let n = 0;
      while (sending) {
        try {
          const res = await sendEvents(`http://127.0.0.1:${port}`, "k", {
            name: "user.signup",
            data: { n: n++ },
          });
          if (res.status === 200) acked.push(res.body.ids![0]!);
        } catch {
          await sleep(20);
        }
      }
    })();
    await waitFor(() => acked.length >= 30, 10_000);
    gw.proc.kill("SIGKILL");
    await gw.exited;
    expect(Date.now() - firstSent, "the kill came after the sleeps ended").toBeLessThan(SLEEP_MS);
    const ackedBeforeKill = acked.length;
    expect(ackedBeforeKill).toBeGreaterThanOrEqual(30);

    gw = await started.restart();
    await waitFor(() => acked.length >= ackedBeforeKill + 20, 10_000);
    sending = false;
    await producer;

    // Every sleeper completes, and its steps ran once each ("before" was memoized before the kill).
    const done = await waitFor(async () => {
      for (const id of sleepers) {
        const runs = await runsOf(gw!.url, id);
        if (runs.length !== 1 || runs[0]!.status !== "Completed") return false;
      }
      return true;
    }, 30_000);
    expect(done).toBe(true);
    const journal = await app.journal();
    const sleeperRuns = new Set<string>();
    for (const id of sleepers) sleeperRuns.add((await runsOf(gw.url, id))[0]!.run_id);
    for (const runId of sleeperRuns) {
      const keys = journal.effects.filter((e) => e.runId === runId).map((e) => e.key);
      expect(keys).toEqual(["before", "after"]);
    }

    // Every acknowledged event has exactly one run of each of its two functions, completed.
    const allDone = await waitFor(async () => {
      for (const id of acked) {
        const runs = await runsOf(gw!.url, id);
        if (runs.length !== 2 || runs.some((r) => r.status !== "Completed")) return false;
      }
      return true;
    }, 30_000);
    if (!allDone) {
      const bad: unknown[] = [];
      for (const id of acked) {
        const runs = await runsOf(gw.url, id);
        if (runs.length !== 2 || runs.some((r) => r.status !== "Completed")) bad.push({ id, runs });
      }
      throw new Error(`acknowledged events without their runs: ${JSON.stringify(bad.slice(0, 5))}`);
    }
    for (const id of acked) {
      const fns = (await runsOf(gw.url, id)).map((r) => r.function_id).sort();
      expect(fns).toEqual(["seed-v4-import-contacts", "seed-v4-send-welcome-email"]);
    }
  }, 120_000);
});
