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

// Events are committed in the event store's file and their runs in the run store's: a gateway
// killed between the two leaves stored events without runs. The next start dispatches again
// every event received since the mark the last process left (dispatch-mark.ts).

describe("the SQLite outbox: events stored just before a crash get their runs at the next start", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("kill -9 between storing an event and creating its runs: after restart the run exists and completes, once", async () => {
    const port = await freePort();
    app = await startSeedApp("v4", `http://127.0.0.1:${port}`);
    const args = [
      "dev",
      "--port",
      String(port),
      "--data-dir",
      tempDir("evt-outbox-"),
      "--app-url",
      app.url,
    ];
    // The failpoint kills the gateway in its first dispatch: after the append's commit.
    gw = await startGatewayProcess(args, { EVT_FAILPOINT: "kill-before-dispatch" });
    const synced = await waitFor(async () => {
      const res = await httpRequest(`${gw!.url}/v1/functions`);
      return res.status === 200 && JSON.parse(res.body).data.length >= 10;
    });
    expect(synced).toBe(true);
    const answer = await sendEvents(gw.url, "k", {
      name: "test/slow",
      data: { ms: 10, n: 1 },
    }).catch((err: Error) => err);
    // The client got no acknowledgement: the connection died with the gateway.
    expect(answer).toBeInstanceOf(Error);
    expect(await waitFor(() => gw!.proc.exitCode !== null || gw!.proc.signalCode !== null)).toBe(
      true,
    );
    expect(gw.proc.signalCode).toBe("SIGKILL");

    gw = await startGatewayProcess(args);
    // The event was committed before the kill.
    const listed = JSON.parse((await httpRequest(`${gw.url}/v1/events?name=test/slow`)).body)
      .data as { internal_id: string }[];
    expect(listed).toHaveLength(1);
    const internalId = listed[0]!.internal_id;
    const completed = await waitFor(async () => {
      const runs = JSON.parse((await httpRequest(`${gw!.url}/v1/events/${internalId}/runs`)).body)
        .data as { status: string }[];
      return runs.length === 1 && runs[0]!.status === "Completed";
    });
    expect(completed).toBe(true);
    expect(gw.stdout()).toMatch(/created the runs of events stored before a crash/);
    const calls = (await app.journal()).calls.filter((c) => c.fn === "slow");
    expect(calls).toHaveLength(1);

    // A clean stop leaves the mark at its end: the next start re-dispatches nothing.
    await stopProcess(gw, "SIGTERM");
    gw = await startGatewayProcess(args);
    const runs = JSON.parse((await httpRequest(`${gw.url}/v1/events/${internalId}/runs`)).body)
      .data as unknown[];
    expect(runs).toHaveLength(1);
    expect(gw.stdout()).not.toMatch(/created the runs of events stored before a crash/);
  });
});
