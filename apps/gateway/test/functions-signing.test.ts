import { afterEach, describe, expect, it } from "vitest";
import { CLOUD_EVENT_KEY } from "./fixtures/seed-app";
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

const KEY_HEX = "5eed".repeat(16);
const SIGNING_KEY = `signkey-prod-${KEY_HEX}`;
const OTHER_KEY = `signkey-prod-${"0bad".repeat(16)}`;
const API_KEY = "read-key";
const auth = { authorization: `Bearer ${API_KEY}` };

async function functionsOf(gw: RunningGateway): Promise<{ id: string }[]> {
  const res = await httpRequest(`${gw.url}/v1/functions`, { headers: auth });
  if (res.status !== 200) throw new Error(`${res.status} ${res.body}`);
  return JSON.parse(res.body).data;
}

describe("start mode with a signing key: apps in cloud mode (no INNGEST_DEV)", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterEach(async () => {
    await stopProcess(gw);
    await app?.close();
    gw = undefined;
    app = undefined;
  });

  async function start(appKey: string) {
    const port = await freePort();
    app = await startSeedApp("v4", `http://127.0.0.1:${port}`, { signingKey: appKey });
    gw = await startGatewayProcess([
      "start",
      "--port",
      String(port),
      "--dedup",
      "memory",
      "--store",
      "memory",
      "--runs",
      "memory",
      "--event-key",
      CLOUD_EVENT_KEY,
      "--api-key",
      API_KEY,
      "--signing-key",
      SIGNING_KEY,
      "--app-url",
      app.url,
    ]);
    return gw;
  }

  it("with the same key: the signed sync registers, signed calls run, step.sendEvent (with the event key) chains", async () => {
    const gateway = await start(SIGNING_KEY);
    expect(await waitFor(async () => (await functionsOf(gateway)).length >= 9)).toBe(true);
    const userId = `signed-${Date.now()}`;
    const sent = await sendEvents(gateway.url, CLOUD_EVENT_KEY, {
      name: "app/user.signup",
      data: { userId },
    });
    expect(sent.status).toBe(200);
    const chained = await waitFor(
      async () =>
        (await app!.journal()).calls.some(
          (c) => c.fn === "on-activated" && c.data.userId === userId,
        ),
      20_000,
    );
    expect(chained).toBe(true);
    // on-activated can run before user-onboarding's last call: wait for that to finish too.
    let runs: unknown[] = [];
    await waitFor(async () => {
      const res = await httpRequest(`${gateway.url}/v1/events/${sent.body.ids![0]}/runs`, {
        headers: auth,
      });
      runs = JSON.parse(res.body).data;
      return JSON.stringify(runs).includes('"Completed"');
    });
    expect(runs).toMatchObject([{ status: "Completed", output: { onboarded: userId } }]);
    // Run reads need the API key like event reads.
    expect((await httpRequest(`${gateway.url}/v1/functions`)).status).toBe(401);
    expect(gateway.stdout()).not.toContain(KEY_HEX);
    expect(gateway.stderr()).not.toContain(KEY_HEX);
  });

  it("with another key: the registration is refused with a 401 that says why, and no function is stored or called", async () => {
    const gateway = await start(OTHER_KEY);
    const refused = await waitFor(() => /syncing the app failed/.test(gateway.stdout()), 10_000);
    expect(refused, gateway.stdout()).toBe(true);
    const line = gateway
      .stdout()
      .split("\n")
      .find((l) => l.includes("syncing the app failed"))!;
    expect(line).toContain("signing key");
    expect(await functionsOf(gateway)).toEqual([]);
    await sendEvents(gateway.url, CLOUD_EVENT_KEY, { name: "app/user.signup", data: {} });
    await sleep(500);
    expect((await app!.journal()).calls).toEqual([]);
    // The same refusal for a direct POST with a wrong or missing bearer.
    for (const authorization of ["Bearer signkey-prod-00", undefined]) {
      const res = await httpRequest(`${gateway.url}/fn/register`, {
        method: "POST",
        body: JSON.stringify({ url: app!.url, appName: "x", functions: [] }),
        headers: authorization ? { authorization } : {},
      });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({ ok: false, status: 401 });
    }
    expect(gateway.stdout()).not.toContain(KEY_HEX);
    expect(gateway.stdout()).not.toContain("0bad0bad");
  });
});
