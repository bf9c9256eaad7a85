import { runTraceparent } from "@evt/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  waitFor,
} from "./helpers";
import { freePort, type SdkVersion, startSeedApp, type TestApp } from "./sdk-apps";

interface RunView {
  run_id: string;
  function_id: string;
  status: string;
  output: unknown;
  attempt: number;
  event_id: string;
  ended_at?: string | null;
  steps?: { id: string; op: string }[];
}

async function getJson<T>(url: string): Promise<T> {
  const res = await httpRequest(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as T;
}

/** The runs an event started, once every one of them has finished. */
async function finishedRuns(gw: RunningGateway, internalId: string, expected: number) {
  let runs: RunView[] = [];
  const ok = await waitFor(async () => {
    runs = (await getJson<{ data: RunView[] }>(`${gw.url}/v1/events/${internalId}/runs`)).data;
    return runs.length === expected && runs.every((r) => r.status !== "Running");
  }, 20_000);
  if (!ok) throw new Error(`runs of ${internalId} did not finish: ${JSON.stringify(runs)}`);
  return runs;
}

describe.each(["v4", "v3"] as SdkVersion[])("functions served by the inngest SDK %s", (version) => {
  let gw: RunningGateway;
  let app: TestApp;
  const appId = `seed-${version}`;

  beforeAll(async () => {
    const port = await freePort();
    app = await startSeedApp(version, `http://127.0.0.1:${port}`);
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
    const synced = await waitFor(async () => {
      const fns = await getJson<{ data: { id: string }[] }>(`${gw.url}/v1/functions`);
      return fns.data.length >= 9;
    });
    expect(synced, gw.stdout()).toBe(true);
  });

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("syncs the app at start: every function under its composite id, the onFailure handler too", async () => {
    const fns = await getJson<{ data: { id: string; app_id: string; triggers: unknown[] }[] }>(
      `${gw.url}/v1/functions`,
    );
    const ids = fns.data.map((f) => f.id).sort();
    expect(ids).toContain(`${appId}-user-onboarding`);
    expect(ids).toContain(`${appId}-fatal-failure`);
    expect(fns.data.find((f) => f.id === `${appId}-import-contacts`)).toMatchObject({
      app_id: appId,
      triggers: [{ event: "user.signup" }],
    });
    const apps = await getJson<{ data: { id: string; url: string }[] }>(`${gw.url}/v1/apps`);
    expect(apps.data).toEqual([expect.objectContaining({ id: appId, url: app.url })]);
  });

  it("runs the seed's user-onboarding chain: step.sendEvent triggers on-activated once, with the same userId", async () => {
    const userId = `u-${version}-${Date.now()}`;
    const sent = await sendEvents(gw.url, "any-key", { name: "app/user.signup", data: { userId } });
    expect(sent.status).toBe(200);
    const [run] = await finishedRuns(gw, sent.body.ids![0]!, 1);
    expect(run).toMatchObject({
      function_id: `${appId}-user-onboarding`,
      status: "Completed",
      output: { onboarded: userId },
    });
    expect(
      await waitFor(async () =>
        (await app.journal()).calls.some(
          (c) => c.fn === "on-activated" && c.data.userId === userId,
        ),
      ),
    ).toBe(true);
    // The activated event is a stored event like any other, with its own finished run.
    const listed = await getJson<{
      data: { name: string; internal_id: string; data: { userId?: string } }[];
    }>(`${gw.url}/v1/events?name=app/user.activated`);
    const activated = listed.data.filter((e) => e.data.userId === userId);
    expect(activated).toHaveLength(1);
    const [chained] = await finishedRuns(gw, activated[0]!.internal_id, 1);
    expect(chained).toMatchObject({ function_id: `${appId}-on-activated`, status: "Completed" });
    expect((await app.journal()).effects.filter((e) => e.runId === run!.run_id)).toEqual([
      { fn: "user-onboarding", runId: run!.run_id, key: "profile" },
    ]);
  });

  it("stores where each event came from: api for POST /e/, function (the run) for step.sendEvent, evt for evt's own", async () => {
    const userId = `src-${version}-${Date.now()}`;
    const sent = await sendEvents(gw.url, "any-key", { name: "app/user.signup", data: { userId } });
    const signupId = sent.body.ids![0]!;
    const [onboarding] = await finishedRuns(gw, signupId, 1);
    expect(onboarding!.function_id).toBe(`${appId}-user-onboarding`);
    type Listed = { internal_id: string; source: string | null; source_id: string | null };
    const events = async (name: string) =>
      (
        await getJson<{ data: (Listed & { data: Record<string, unknown> })[] }>(
          `${gw.url}/v1/events?name=${name}&limit=100`,
        )
      ).data;
    const signup = await getJson<{ data: Listed }>(`${gw.url}/v1/events/${signupId}`);
    expect(signup.data).toMatchObject({ source: "api", source_id: null });
    const activated = (await events("app/user.activated")).filter((e) => e.data.userId === userId);
    expect(activated).toEqual([
      expect.objectContaining({ source: "function", source_id: onboarding!.run_id }),
    ]);
    let finished: Listed[] = [];
    await waitFor(async () => {
      finished = (await events("inngest/function.finished")).filter(
        (e) => (e.data as { run_id?: string }).run_id === onboarding!.run_id,
      );
      return finished.length === 1;
    });
    expect(finished).toEqual([expect.objectContaining({ source: "evt", source_id: null })]);
  });

  it("a sender cannot claim a source: fields in the JSON are ignored, a traceparent naming a run that is not running is api", async () => {
    const userId = `forge-${version}-${Date.now()}`;
    const sent = await sendEvents(gw.url, "any-key", { name: "app/user.signup", data: { userId } });
    const [done] = await finishedRuns(gw, sent.body.ids![0]!, 1);
    expect(done!.status).toBe("Completed");
    const forged = await sendEvents(
      gw.url,
      "any-key",
      [
        { name: "test/forged", data: {}, source: "webhook", source_id: "wh_x" },
        { name: "test/forged", data: {}, source: "function" },
      ],
      // The finished run's id, as the SDK would forward it from a call.
      {
        traceparent: runTraceparent(done!.run_id, "00f067aa0ba902b7")!,
        "x-inngest-sdk": "inngest-js:v4.24.0",
      },
    );
    expect(forged.status).toBe(200);
    const random = await sendEvents(
      gw.url,
      "any-key",
      { name: "test/forged" },
      {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
    );
    for (const id of [...forged.body.ids!, ...random.body.ids!]) {
      const { data } = await getJson<{ data: { source: string; source_id: string | null } }>(
        `${gw.url}/v1/events/${id}`,
      );
      expect([data.source, data.source_id]).toEqual(["api", null]);
    }
  });

  it("fans one user.signup out to send-welcome-email and import-contacts once each; the same id again runs nothing", async () => {
    const id = `signup-${version}-${Date.now()}`;
    const first = await sendEvents(gw.url, "k", {
      id,
      name: "user.signup",
      data: { email: "a@b.c" },
    });
    const runs = await finishedRuns(gw, first.body.ids![0]!, 2);
    expect(runs.map((r) => r.function_id).sort()).toEqual([
      `${appId}-import-contacts`,
      `${appId}-send-welcome-email`,
    ]);
    const again = await sendEvents(gw.url, "k", {
      id,
      name: "user.signup",
      data: { email: "a@b.c" },
    });
    expect(again.body.ids).toEqual(first.body.ids);
    // A later event's runs finishing shows the queue moved past the duplicate.
    const later = await sendEvents(gw.url, "k", { name: "user.signup", data: {} });
    await finishedRuns(gw, later.body.ids![0]!, 2);
    expect(await finishedRuns(gw, first.body.ids![0]!, 2)).toHaveLength(2);
    const welcome = runs.find((r) => r.function_id.endsWith("send-welcome-email"))!;
    expect((await app.journal()).effects.filter((e) => e.runId === welcome.run_id)).toHaveLength(1);
  });

  it("retries a function that throws on attempt 0: attempt 1 completes it", async () => {
    const sent = await sendEvents(gw.url, "k", { name: "test/flaky", data: { n: 1 } });
    const [run] = await finishedRuns(gw, sent.body.ids![0]!, 1);
    expect(run).toMatchObject({ status: "Completed", output: { attempt: 1 }, attempt: 1 });
    const attempts = (await app.journal()).calls
      .filter((c) => c.runId === run!.run_id)
      .map((c) => c.attempt);
    expect(attempts).toEqual([0, 1]);
    // The run's history keeps both: the failed attempt with its error, then the one that completed.
    const detail = await getJson<{
      data: {
        attempts: { attempt: number; outcome: string; error: { message?: string } | null }[];
      };
    }>(`${gw.url}/v1/runs/${run!.run_id}`);
    expect(detail.data.attempts).toEqual([
      expect.objectContaining({
        attempt: 0,
        outcome: "retried",
        error: expect.objectContaining({ message: "first attempt fails" }),
      }),
      expect.objectContaining({ attempt: 1, outcome: "completed", error: null }),
    ]);
  });

  it("fails a NonRetriableError after one attempt and runs the onFailure handler with inngest/function.failed", async () => {
    const sent = await sendEvents(gw.url, "k", { name: "test/fatal", data: { n: 2 } });
    const [run] = await finishedRuns(gw, sent.body.ids![0]!, 1);
    expect(run).toMatchObject({ function_id: `${appId}-fatal`, status: "Failed" });
    expect((await app.journal()).calls.filter((c) => c.runId === run!.run_id)).toHaveLength(1);
    expect(
      await waitFor(async () =>
        (await app.journal()).failures.some((f) => f.functionId === `${appId}-fatal`),
      ),
    ).toBe(true);
    expect(
      (await app.journal()).failures.find((f) => f.functionId === `${appId}-fatal`),
    ).toMatchObject({
      error: expect.stringContaining("this cannot work"),
      eventName: "test/fatal",
    });
    const detail = await getJson<{
      data: RunView & {
        error: { message: string };
        attempts: { attempt: number; outcome: string; ended_at: string }[];
      };
    }>(`${gw.url}/v1/runs/${run!.run_id}`);
    expect(detail.data.error.message).toContain("this cannot work");
    expect(detail.data.attempts).toEqual([
      expect.objectContaining({ attempt: 0, outcome: "failed", ended_at: run!.ended_at }),
    ]);
  });

  it("memoizes steps across a step.sleep: each step runs once, and the run completes after the sleep", async () => {
    const started = Date.now();
    const sent = await sendEvents(gw.url, "k", { name: "test/sleep", data: { sleep: "1s" } });
    const [run] = await finishedRuns(gw, sent.body.ids![0]!, 1);
    expect(run).toMatchObject({ status: "Completed", output: "rested" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(
      (await app.journal()).effects.filter((e) => e.runId === run!.run_id).map((e) => e.key),
    ).toEqual(["before", "after"]);
    const detail = await getJson<{ data: RunView }>(`${gw.url}/v1/runs/${run!.run_id}`);
    expect(detail.data.steps!.map((s) => s.op)).toEqual(["StepRun", "Sleep", "StepRun"]);
  });

  it("runs parallel steps (Promise.all) once each and returns both results", async () => {
    const sent = await sendEvents(gw.url, "k", { name: "test/parallel", data: {} });
    const [run] = await finishedRuns(gw, sent.body.ids![0]!, 1);
    expect(run).toMatchObject({ status: "Completed", output: "AB" });
    expect(
      (await app.journal()).effects
        .filter((e) => e.runId === run!.run_id)
        .map((e) => e.key)
        .sort(),
    ).toEqual(["a", "b"]);
  });

  it("idempotency: one run per key value; an event with a taken key starts none, and the skip is counted", async () => {
    const userId = `idem-${version}-${Date.now()}`;
    const a = await sendEvents(gw.url, "k", { name: "test/once", data: { userId } });
    const b = await sendEvents(gw.url, "k", { name: "test/once", data: { userId } });
    const c = await sendEvents(gw.url, "k", { name: "test/once", data: { userId: `${userId}-2` } });
    expect(await finishedRuns(gw, a.body.ids![0]!, 1)).toMatchObject([{ status: "Completed" }]);
    expect(await finishedRuns(gw, c.body.ids![0]!, 1)).toMatchObject([{ status: "Completed" }]);
    expect(
      (await getJson<{ data: RunView[] }>(`${gw.url}/v1/events/${b.body.ids![0]}/runs`)).data,
    ).toEqual([]);
    const calls = (await app.journal()).calls.filter((x) => x.fn === "once-per-user");
    expect(calls.filter((x) => x.data.userId === userId)).toHaveLength(1);
    const metrics = (await httpRequest(`${gw.url}/metrics`)).body;
    expect(metrics).toContain(
      `evt_runs_skipped_total{function="${appId}-once-per-user",reason="idempotency"}`,
    );
  });

  it("cancelOn: a matching event cancels a sleeping run (no further calls, inngest/function.cancelled stored); another id does not", async () => {
    const id = `c-${version}-${Date.now()}`;
    const keep = `${id}-keep`;
    const target = await sendEvents(gw.url, "k", {
      name: "test/cancellable",
      data: { id, sleep: "3s" },
    });
    const kept = await sendEvents(gw.url, "k", {
      name: "test/cancellable",
      data: { id: keep, sleep: "1s" },
    });
    const sleeping = async (eventId: string) => {
      const [run] = (await getJson<{ data: RunView[] }>(`${gw.url}/v1/events/${eventId}/runs`))
        .data;
      if (run === undefined) return null;
      const detail = (await getJson<{ data: RunView }>(`${gw.url}/v1/runs/${run.run_id}`)).data;
      return detail.steps?.some((s) => s.op === "Sleep") ? run.run_id : null;
    };
    let runId: string | null = null;
    const asleep = await waitFor(async () => {
      runId = await sleeping(target.body.ids![0]!);
      return runId !== null;
    });
    expect(asleep).toBe(true);
    await sendEvents(gw.url, "k", { name: "test/cancel", data: { id } });
    const [cancelled] = await finishedRuns(gw, target.body.ids![0]!, 1);
    expect(cancelled).toMatchObject({ run_id: runId, status: "Cancelled" });
    const [other] = await finishedRuns(gw, kept.body.ids![0]!, 1);
    expect(other).toMatchObject({ status: "Completed", output: "not cancelled" });
    const effects = (await app.journal()).effects
      .filter((e) => e.runId === runId)
      .map((e) => e.key);
    expect(effects).toEqual(["before"]);
    expect(
      await waitFor(async () => {
        const list = (
          await getJson<{ data: { data: { run_id: string } }[] }>(
            `${gw.url}/v1/events?name=inngest/function.cancelled`,
          )
        ).data;
        return list.some((e) => e.data.run_id === runId);
      }),
    ).toBe(true);
  });
});
