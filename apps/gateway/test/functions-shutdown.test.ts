import { afterAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import { freePort, startSeedApp, type TestApp } from "./sdk-apps";

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
    const port = await freePort();
    const dataDir = tempDir("evt-fn-term-");
    // 4 s of shutdown budget: half of it (2 s) for calls in flight.
    const args = ["dev", "--port", String(port), "--data-dir", dataDir, "--shutdown-timeout", "4s"];
    app = await startSeedApp("v4", `http://127.0.0.1:${port}`);
    gw = await startGatewayProcess([...args, "--app-url", app.url]);
    await waitFor(async () => {
      const res = await httpRequest(`${gw!.url}/v1/functions`);
      return JSON.parse(res.body).data.length >= 10;
    });
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

    gw = await startGatewayProcess([...args, "--app-url", app.url]);
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
