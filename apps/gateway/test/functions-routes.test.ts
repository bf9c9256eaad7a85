import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  sleep,
  startGatewayProcess,
  stopProcess,
  waitFor,
} from "./helpers";
import { freePort, startSeedApp, type TestApp } from "./sdk-apps";

const register = (gw: RunningGateway, body: string, headers: Record<string, string> = {}) =>
  httpRequest(`${gw.url}/fn/register`, { method: "POST", body, headers });

describe("functions routes refuse hostile input with errors that say what was wrong", () => {
  let gw: RunningGateway;
  let app: TestApp;

  beforeAll(async () => {
    const port = await freePort();
    app = await startSeedApp("v4", `http://127.0.0.1:${port}`);
    gw = await startGatewayProcess([
      "dev",
      "--port",
      String(port),
      "--dedup",
      "memory",
      "--store",
      "memory",
      "--runs",
      "memory",
      "--app-url",
      app.url,
    ]);
    await waitFor(async () => {
      const res = await httpRequest(`${gw.url}/v1/functions`);
      return JSON.parse(res.body).data.length >= 10;
    });
  });

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("/fn/register: not JSON, not the SDK's shape, bad triggers: 400 with the JSON status and path the SDK shows; nothing stored", async () => {
    const before = JSON.parse((await httpRequest(`${gw.url}/v1/functions`)).body).data.length;
    const notJson = await register(gw, "{nope");
    expect(notJson.status).toBe(400);
    expect(JSON.parse(notJson.body)).toMatchObject({
      ok: false,
      status: 400,
      error: expect.stringContaining("not JSON"),
    });

    const badShape = await register(gw, JSON.stringify([1, 2]));
    expect(JSON.parse(badShape.body)).toMatchObject({
      status: 400,
      error: expect.stringContaining("body"),
    });

    const badTrigger = await register(
      gw,
      JSON.stringify({
        url: "http://127.0.0.1:1/api/inngest",
        appName: "hostile",
        functions: [
          {
            id: "hostile-x",
            name: "x",
            triggers: [{ event: "a/b", expression: "event.data.x ==" }],
            steps: { step: { id: "step", runtime: { type: "http", url: "http://127.0.0.1:1/x" } } },
          },
        ],
      }),
    );
    expect(badTrigger.status).toBe(400);
    const answer = JSON.parse(badTrigger.body);
    expect(answer.error).toContain("functions[0].triggers[0].expression");
    const after = JSON.parse((await httpRequest(`${gw.url}/v1/functions`)).body).data.length;
    expect(after).toBe(before);
  });

  it("/fn/register: a body over 16 MiB is refused with 413 before it is read whole; GET is 405", async () => {
    const huge = await register(gw, `{"url":"${"x".repeat(17 * 1024 * 1024)}"}`).catch(
      (err: Error) => ({ status: -1, body: err.message }),
    );
    // The gateway answers 413 and closes; a client still writing may see the reset instead.
    expect([413, -1]).toContain(huge.status);
    const get = await httpRequest(`${gw.url}/fn/register`);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    // The gateway is still healthy after both.
    expect((await httpRequest(`${gw.url}/health`)).status).toBe(200);
  });

  it("run reads: unknown run 404, unknown route under /v1 404, wrong method 405, odd ids answered without a crash", async () => {
    const missing = await httpRequest(`${gw.url}/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error).toContain("not found");
    for (const id of ["%2e%2e%2f%2e%2e", "a".repeat(2000), "%00", "%E0%A4%A"]) {
      const res = await httpRequest(`${gw.url}/v1/runs/${id}`);
      expect([400, 404]).toContain(res.status);
      expect(() => JSON.parse(res.body)).not.toThrow();
    }
    expect((await httpRequest(`${gw.url}/v1/apps`, { method: "POST", body: "{}" })).status).toBe(
      405,
    );
    expect((await httpRequest(`${gw.url}/v1/runs/x/y/z`)).status).toBe(404);
    const runs = await httpRequest(`${gw.url}/v1/events/${"z".repeat(300)}/runs`);
    expect([200, 400]).toContain(runs.status);
    expect((await httpRequest(`${gw.url}/health`)).status).toBe(200);
  });

  it("DELETE /v1/runs/:id cancels a sleeping run: it is never called again; a second DELETE is 409", async () => {
    const sent = await sendEvents(gw.url, "k", { name: "test/sleep", data: { sleep: "2s" } });
    let runId = "";
    await waitFor(async () => {
      const runs = JSON.parse(
        (await httpRequest(`${gw.url}/v1/events/${sent.body.ids![0]}/runs`)).body,
      ).data;
      if (runs.length !== 1) return false;
      runId = runs[0].run_id;
      const detail = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${runId}`)).body).data;
      return detail.steps.some((s: { op: string }) => s.op === "Sleep");
    });
    const cancel = await httpRequest(`${gw.url}/v1/runs/${runId}`, { method: "DELETE" });
    expect(cancel.status).toBe(200);
    expect(JSON.parse(cancel.body).data).toMatchObject({ status: "Cancelled" });
    const callsBefore = (await app.journal()).calls.filter((c) => c.runId === runId).length;
    await sleep(3_000);
    const journal = await app.journal();
    expect(journal.calls.filter((c) => c.runId === runId)).toHaveLength(callsBefore);
    expect(journal.effects.filter((e) => e.runId === runId).map((e) => e.key)).toEqual(["before"]);
    const cancelledEvents = JSON.parse(
      (await httpRequest(`${gw.url}/v1/events?name=inngest/function.cancelled`)).body,
    ).data.filter((e: { data: { run_id: string } }) => e.data.run_id === runId);
    expect(cancelledEvents).toHaveLength(1);
    expect(cancelledEvents[0].data).toMatchObject({
      function_id: "seed-v4-sleeper",
      event: { name: "test/sleep" },
    });
    const metrics = (await httpRequest(`${gw.url}/metrics`)).body;
    expect(metrics).toMatch(/evt_runs_active\{state="running"\} \d+/);
    expect(metrics).toMatch(
      /evt_runs_finished_total\{function="seed-v4-sleeper",status="cancelled"\} 1/,
    );
    const again = await httpRequest(`${gw.url}/v1/runs/${runId}`, { method: "DELETE" });
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body).error).toContain("already finished");
  });

  it("POST /v1/runs/:id/replay starts a failed run again: called again, fails again, onFailure runs again; 409 while it is not failed", async () => {
    const sent = await sendEvents(gw.url, "k", { name: "test/fatal", data: { replay: true } });
    const id = sent.body.ids![0]!;
    const runOf = async () =>
      JSON.parse((await httpRequest(`${gw.url}/v1/events/${id}/runs`)).body).data[0] as
        | { run_id: string; status: string }
        | undefined;
    expect(await waitFor(async () => (await runOf())?.status === "Failed")).toBe(true);
    const runId = (await runOf())!.run_id;
    const failuresOf = async () =>
      (await app.journal()).failures.filter((f) => f.functionId === "seed-v4-fatal").length;
    expect(await waitFor(async () => (await failuresOf()) >= 1)).toBe(true);
    const before = await failuresOf();
    const replay = await httpRequest(`${gw.url}/v1/runs/${runId}/replay`, {
      method: "POST",
      body: "",
    });
    expect(replay.status).toBe(202);
    expect(JSON.parse(replay.body).data).toMatchObject({ run_id: runId, attempt: 0 });
    expect(await waitFor(async () => (await failuresOf()) === before + 1)).toBe(true);
    expect((await app.journal()).calls.filter((c) => c.runId === runId)).toHaveLength(2);
    expect((await runOf())!.status).toBe("Failed");
    // A completed run is not replayed.
    const ok = await sendEvents(gw.url, "k", { name: "test/parallel", data: {} });
    let done: { run_id: string; status: string } | undefined;
    await waitFor(async () => {
      done = JSON.parse((await httpRequest(`${gw.url}/v1/events/${ok.body.ids![0]}/runs`)).body)
        .data[0];
      return done?.status === "Completed";
    });
    const refused = await httpRequest(`${gw.url}/v1/runs/${done!.run_id}/replay`, {
      method: "POST",
      body: "",
    });
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body).error).toContain("only a failed or cancelled run");
    expect((await httpRequest(`${gw.url}/v1/runs/${runId}/replay`)).status).toBe(405);
  });

  it("a function asking for what evt does not do yet is accepted, with the warnings in GET /v1/functions and the log", async () => {
    const url = "http://127.0.0.1:9/api/inngest";
    const res = await register(
      gw,
      JSON.stringify({
        url,
        appName: "limits",
        functions: [
          {
            id: "limits-report",
            name: "report",
            triggers: [{ event: "report/requested" }, { cron: "0 9 * * 1" }],
            concurrency: 2,
            batchEvents: { maxSize: 10, timeout: "5s" },
            rateLimit: { limit: 1, period: "1m" },
            singleton: { mode: "skip" },
            steps: {
              step: {
                id: "step",
                runtime: { type: "http", url: `${url}?fnId=limits-report&stepId=step` },
              },
            },
          },
        ],
      }),
    );
    expect(JSON.parse(res.body)).toMatchObject({ ok: true });
    const fns = JSON.parse((await httpRequest(`${gw.url}/v1/functions`)).body).data as {
      id: string;
      warnings: string[];
    }[];
    const warnings = fns.find((f) => f.id === "limits-report")!.warnings;
    // concurrency, batchEvents and rateLimit are acted on: no warning about them.
    expect(warnings.join("\n")).not.toMatch(/concurrency/);
    expect(warnings.join("\n")).not.toMatch(/batch/i);
    expect(warnings.join("\n")).not.toMatch(/rateLimit/);
    expect(warnings.join("\n")).toMatch(/singleton is not supported yet/);
    expect(fns.find((f) => f.id === "seed-v4-flaky")!.warnings).toEqual([]);
    expect(
      await waitFor(() => /"functionId":"limits-report".*singleton is not/.test(gw.stdout())),
    ).toBe(true);
  });

  it("POST /v1/functions/:id/invoke starts a run with inngest/function.invoked; a repeated idempotencyKey is a 409 naming the run; bad input is a 400", async () => {
    const invoke = (id: string, body: string) =>
      httpRequest(`${gw.url}/v1/functions/${id}/invoke`, { method: "POST", body });
    const first = await invoke(
      "seed-v4-import-contacts",
      JSON.stringify({ data: { who: "ada" }, idempotencyKey: "k1" }),
    );
    expect(first.status).toBe(201);
    const run = JSON.parse(first.body).data as { run_id: string; event_id: string };
    expect(
      await waitFor(async () => {
        const detail = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${run.run_id}`)).body).data;
        return detail.status === "Completed";
      }),
    ).toBe(true);
    const calls = (await app.journal()).calls.filter((c) => c.runId === run.run_id);
    expect(calls).toEqual([
      expect.objectContaining({ fn: "import-contacts", data: { who: "ada" } }),
    ]);
    const event = JSON.parse((await httpRequest(`${gw.url}/v1/events/${run.event_id}`)).body);
    expect(JSON.stringify(event)).toContain("inngest/function.invoked");
    // Asked for through the API: source api.
    expect(event.data).toMatchObject({ source: "api", source_id: null });

    const again = await invoke(
      "seed-v4-import-contacts",
      JSON.stringify({ data: {}, idempotencyKey: "k1" }),
    );
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body).data.run_id).toBe(run.run_id);

    expect((await invoke("seed-v4-nope", "{}")).status).toBe(404);
    expect((await invoke("seed-v4-import-contacts", "{nope")).status).toBe(400);
    expect((await invoke("seed-v4-import-contacts", '{"data":[1]}')).status).toBe(400);
    expect((await invoke("seed-v4-import-contacts", '{"idempotencyKey":5}')).status).toBe(400);
    expect(
      (await httpRequest(`${gw.url}/v1/functions/seed-v4-import-contacts/invoke`)).status,
    ).toBe(405);
  });

  it("an event stored before a function was registered does not start it; the next one does", async () => {
    const before = await sendEvents(gw.url, "k", { name: "late/registered", data: {} });
    const url = "http://127.0.0.1:9/late/api/inngest";
    const res = await register(
      gw,
      JSON.stringify({
        url,
        appName: "late",
        functions: [
          {
            id: "late-fn",
            name: "fn",
            triggers: [{ event: "late/registered" }],
            steps: {
              step: {
                id: "step",
                runtime: { type: "http", url: `${url}?fnId=late-fn&stepId=step` },
              },
            },
          },
        ],
      }),
    );
    expect(JSON.parse(res.body)).toMatchObject({ ok: true });
    const after = await sendEvents(gw.url, "k", { name: "late/registered", data: {} });
    const runsOf = async (id: string) =>
      JSON.parse((await httpRequest(`${gw.url}/v1/events/${id}/runs`)).body).data as {
        function_id: string;
      }[];
    expect(await runsOf(before.body.ids![0]!)).toEqual([]);
    expect((await runsOf(after.body.ids![0]!)).map((r) => r.function_id)).toEqual(["late-fn"]);
  });
});
