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

describe("an event with a future ts starts its runs at ts (delayed delivery)", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("runs no earlier than ts, survives kill -9 before then and runs once; ts past --max-event-delay is a 400 that says why", async () => {
    const started = await startAppAndGateway("v4", [
      "dev",
      "--data-dir",
      tempDir("evt-fn-delay-"),
      "--max-event-delay",
      "1h",
    ]);
    app = started.app;
    gw = started.gw;

    const tooFar = await sendEvents(gw.url, "k", {
      name: "test/slow",
      data: { ms: 1 },
      ts: Date.now() + 2 * 3_600_000,
    });
    expect(tooFar.status).toBe(400);
    expect(tooFar.body.error).toContain("events[0].ts");
    expect(tooFar.body.error).toContain("more than 3600 s ahead");

    const ts = Date.now() + 3_000;
    const sent = await sendEvents(gw.url, "k", {
      name: "test/slow",
      data: { ms: 1, delayed: true },
      ts,
    });
    expect(sent.status).toBe(200);
    const id = sent.body.ids![0]!;
    const runs = JSON.parse((await httpRequest(`${gw.url}/v1/events/${id}/runs`)).body).data;
    expect(runs).toMatchObject([{ status: "Running", next_at: new Date(ts).toISOString() }]);

    gw.proc.kill("SIGKILL");
    await gw.exited;
    gw = await started.restart();

    const ran = await waitFor(async () => {
      const list = JSON.parse((await httpRequest(`${gw!.url}/v1/events/${id}/runs`)).body).data;
      return list[0]?.status === "Completed";
    }, 15_000);
    expect(ran).toBe(true);
    const calls = (await app.journal()).calls.filter((c) => c.data.delayed === true);
    expect(calls).toHaveLength(1);
    const detail = JSON.parse(
      (
        await httpRequest(
          `${gw.url}/v1/runs/${JSON.parse((await httpRequest(`${gw.url}/v1/events/${id}/runs`)).body).data[0].run_id}`,
        )
      ).body,
    ).data;
    expect(Date.parse(detail.started_at)).toBeGreaterThanOrEqual(ts);
  }, 60_000);
});
