import { afterAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import { startAppAndGateway, type TestApp } from "./sdk-apps";

async function runsOf(url: string, internalId: string): Promise<{ status: string }[]> {
  const res = await httpRequest(`${url}/v1/events/${internalId}/runs`);
  return JSON.parse(res.body).data;
}

describe("graceful shutdown with function calls in flight", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("SIGTERM lets a call in flight finish and stores its result; a call past the budget is handed back and completes after a restart", async () => {
    // 4 s of shutdown budget: half of it (2 s) for calls in flight.
    const started = await startAppAndGateway("v4", [
      "dev",
      "--data-dir",
      tempDir("evt-fn-term-"),
      "--shutdown-timeout",
      "4s",
    ]);
    app = started.app;
    gw = started.gw;
    const quick = await sendEvents(gw.url, "k", { name: "test/slow", data: { ms: 800 } });
    const long = await sendEvents(gw.url, "k", { name: "test/slow", data: { ms: 6_000 } });
    const both = [quick.body.ids![0]!, long.body.ids![0]!];
    // Both calls are in flight.
    expect(
      await waitFor(
        async () => (await app!.journal()).calls.filter((c) => c.fn === "slow").length >= 2,
      ),
    ).toBe(true);
    gw.proc.kill("SIGTERM");
    const exit = await gw.exited;
    expect(exit.code).toBe(0);

    gw = await started.restart();
    // The quick run finished before the gateway stopped: Completed without another call.
    const [quickRun] = await runsOf(gw.url, both[0]!);
    expect(quickRun).toMatchObject({ status: "Completed" });
    // The long one was handed back due at once, and this start completes it.
    expect(
      await waitFor(
        async () => (await runsOf(gw!.url, both[1]!))[0]?.status === "Completed",
        20_000,
      ),
    ).toBe(true);
    const calls = (await app.journal()).calls.filter((c) => c.fn === "slow");
    expect(calls.filter((c) => c.data.ms === 800)).toHaveLength(1);
    expect(calls.filter((c) => c.data.ms === 6_000)).toHaveLength(2);
  }, 60_000);
});
