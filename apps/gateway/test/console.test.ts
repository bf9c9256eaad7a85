import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import { startAppAndGateway, type TestApp } from "./sdk-apps";

// The console, driven in the Chromium that Debian packages (scripts/services.sh installs it
// when missing), against a real gateway and the seed app served by the real SDK.

const CHROMIUM = process.env.EVT_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = fileURLToPath(new URL("../test-results/console/", import.meta.url));

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (scripts/services.sh does), or set EVT_CHROMIUM`,
    );
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe("the console in a browser (dev)", () => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  // A long walk through every page in a real browser: allowed a minute on a loaded machine.
  it("streams a new event without a reload, follows its run's steps in order, cancels and replays it, and the send form shows the Event API's errors", {
    timeout: 60_000,
  }, async () => {
    const started = await startAppAndGateway("v4", ["dev", "--data-dir", tempDir("evt-console-")], {
      cron: "TZ=Europe/Paris 0 12 * * 5",
      waits: true,
    });
    app = started.app;
    gw = started.gw;
    const page = await browser!.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));

    await page.goto(`${gw.url}/`);
    await page.getByRole("status").filter({ hasText: "live" }).waitFor();
    await page.getByText("No events yet").waitFor();

    // A new event shows up in the stream as it is stored, with its run.
    const sent = await sendEvents(gw.url, "k", { name: "test/sleep", data: { sleep: "60s" } });
    expect(sent.status).toBe(200);
    const id = sent.body.ids![0]!;
    const row = page.locator(`tr[data-event="${id}"]`);
    await row.getByRole("link", { name: "test/sleep" }).waitFor();
    await row.locator(".badge", { hasText: "seed-v4-sleeper" }).waitFor();
    await shot(page, "stream");

    // The source column shows where the gateway stored the event as coming from.
    expect(await row.locator("td").nth(2).textContent()).toBe("api");
    const hook = JSON.parse(
      (
        await httpRequest(`${gw.url}/v1/webhooks`, {
          method: "POST",
          body: JSON.stringify({ name: "console-hook", verify: { scheme: "none", force: true } }),
        })
      ).body,
    ).data as { url: string };
    const delivered = await httpRequest(hook.url, {
      method: "POST",
      body: JSON.stringify({ ping: 1 }),
      headers: { "content-type": "application/json" },
    });
    expect(delivered.status, delivered.body).toBe(200);
    const hookRow = page.locator(`tr[data-event="${JSON.parse(delivered.body).ids[0]}"]`);
    await hookRow.waitFor();
    expect(await hookRow.locator("td").nth(2).textContent()).toBe("webhook");
    // The same after a reload, from the read API rather than the live stream.
    await page.reload();
    await page.getByRole("status").filter({ hasText: "live" }).waitFor();
    await hookRow.waitFor();
    expect(await hookRow.locator("td").nth(2).textContent()).toBe("webhook");
    expect(await row.locator("td").nth(2).textContent()).toBe("api");
    // A time filter: nothing was received since tomorrow.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000)
      .toISOString()
      .slice(0, 19);
    await page.getByLabel("Received since").fill(local);
    await page.getByText("No events yet").waitFor();
    expect(await row.count()).toBe(0);
    await page.getByLabel("Received since").fill("");
    await row.waitFor();

    // By keyboard: Tab shows where the focus is; Enter opens the event, whose page takes the
    // focus, and the next Tab is its run.
    await row.getByRole("link", { name: "test/sleep" }).focus();
    await page.keyboard.press("Tab");
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        return { id: el.id, text: el.textContent, outline: getComputedStyle(el).outlineStyle };
      });
    expect(await focused()).toMatchObject({ text: "seed-v4-sleeper · Running", outline: "solid" });
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Enter");

    // The event: its payload and its run.
    await page.getByRole("heading", { name: "test/sleep" }).waitFor();
    expect(await page.getByLabel("Event data").textContent()).toContain('"sleep": "60s"');
    expect((await focused()).id).toBe("main");
    await shot(page, "event");

    // The run: its steps in the order they ran (a step.run, then the sleep it is in).
    await page.keyboard.press("Tab");
    expect((await focused()).text).toMatch(/^seed-v4-sleeper · /);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "seed-v4-sleeper" }).waitFor();
    const steps = page.getByLabel("Steps").locator("li[data-step]");
    await steps.nth(1).waitFor({ timeout: 15_000 });
    expect(await steps.evaluateAll((els) => els.map((e) => e.className))).toEqual([
      "op-StepRun",
      "op-Sleep",
    ]);
    // Each step by the name the function gave it, its op, and how long it took; the sleep
    // with the time it wakes.
    expect(await steps.locator("[data-name]").allTextContents()).toEqual(["1. before", "2. nap"]);
    expect(await steps.locator("[data-op]").allTextContents()).toEqual(["step.run", "sleep"]);
    expect(await steps.first().locator("[data-duration]").textContent()).toMatch(
      /^\d+ ms$|^\d+\.\d s$/,
    );
    expect(await steps.nth(1).locator("[data-wake]").textContent()).toMatch(/^wakes at /);
    await shot(page, "run");

    // Cancel it, then replay it.
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.locator('[data-status="Cancelled"]').waitFor();
    const runId = page.url().split("#/runs/")[1]!;
    const cancelled = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${runId}`)).body).data;
    expect(cancelled.status).toBe("Cancelled");
    await page.getByRole("button", { name: "Replay run" }).click();
    await page.locator('[data-status="Running"]').waitFor();
    await steps.first().waitFor({ timeout: 15_000 });
    // Escape leaves the run for the stream.
    await page.keyboard.press("Escape");
    await page.locator(`tr[data-event="${id}"]`).waitFor();

    // The send form: the Event API's own message for a bad event, nothing stored; then a good one.
    await page.getByRole("link", { name: "Send" }).click();
    const editor = page.getByLabel("Event JSON");
    await editor.fill('{"data": {"a": 1}}');
    await page.getByRole("button", { name: "Send" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/name/);
    expect(await alert.textContent()).toMatch(/HTTP 400/);
    await shot(page, "send-error");
    // Bad JSON: where it is wrong, as a line and column, with the cursor put there.
    const bad = '{\n  "name": "x",\n  data: 1\n}';
    await editor.fill(bad);
    await page.getByRole("button", { name: "Send" }).click();
    const notJson = page.getByRole("alert").filter({ hasText: "Not JSON" });
    await notJson.waitFor();
    expect(await notJson.locator("[data-json-at]").getAttribute("data-json-at")).toBe("3:3");
    expect(await notJson.textContent()).toContain("at line 3, column 3");
    expect(
      await editor.evaluate((el: HTMLTextAreaElement) => [
        document.activeElement === el,
        el.selectionStart,
      ]),
    ).toEqual([true, bad.indexOf("data")]);
    await shot(page, "send-json-error");
    // Ctrl+Enter sends from the editor.
    await editor.fill('{"name": "console/sent", "data": {"from": "form"}}');
    await editor.press("Control+Enter");
    await page.getByText("Stored: 1 event").waitFor();
    const stored = JSON.parse((await httpRequest(`${gw.url}/v1/events?name=console/sent`)).body);
    expect(stored.data).toHaveLength(1);
    expect(stored.data[0].data).toEqual({ from: "form" });

    // Functions and apps, and a sync of the app on request.
    await page.getByRole("link", { name: "Functions" }).click();
    await page.getByRole("cell", { name: "seed-v4-sleeper" }).waitFor();
    expect(await page.getByText(app.url).count()).toBeGreaterThan(0);
    // Triggers with a cron's next tick, flow settings, and run counts by status.
    const minutely = page.locator('tr[data-function="seed-v4-minutely"]');
    expect(await minutely.locator("[data-next]").textContent()).toMatch(/^next /);
    const listed = JSON.parse((await httpRequest(`${gw.url}/v1/functions`)).body).data;
    const cronFn = listed.find((f: { id: string }) => f.id === "seed-v4-minutely");
    const next = new Date(cronFn.schedule[0].next[0]);
    // Friday 12:00 in Paris: 10:00 or 11:00 UTC.
    expect([next.getUTCDay(), [10, 11].includes(next.getUTCHours())]).toEqual([5, true]);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(await page.locator('tr[data-function="seed-v4-cancellable"]').textContent()).toContain(
      "cancel:",
    );
    expect(await page.locator('tr[data-function="seed-v4-once-per-user"]').textContent()).toContain(
      'idempotency: "event.data.userId"',
    );
    expect(
      await page.locator('tr[data-function="seed-v4-sleeper"] [data-counts]').textContent(),
    ).toContain("1 cancelled");
    await page.getByRole("button", { name: "Sync now" }).click();
    await page.getByText("Synced.").waitFor();
    await shot(page, "functions");

    // Health: the stores, the queue, rates as charts, and failures by function.
    const failed = await sendEvents(gw.url, "k", { name: "test/fatal", data: {} });
    expect(failed.status).toBe(200);
    await page.getByRole("link", { name: "Health" }).click();
    await page.locator("[data-drivers]").waitFor();
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe("Health");
    expect(await page.locator("[data-drivers]").textContent()).toBe(
      "dedup sqlite, events sqlite, runs sqlite",
    );
    // A chart of samples: a flat line has no height, so wait for it in the DOM, not on screen.
    await page
      .locator('[data-chart="events"] svg polyline:not([points=""])')
      .waitFor({ state: "attached" });
    await page
      .getByRole("table", { name: "Failures by function" })
      .getByRole("cell", { name: "seed-v4-fatal" })
      .waitFor({ timeout: 15_000 });
    // Recent failures link to the failed run.
    const recent = page.getByRole("table", { name: "Recent failures" });
    await recent.getByRole("cell", { name: "seed-v4-fatal" }).waitFor();
    await shot(page, "health");
    await recent.getByRole("link").first().click();
    await page.getByRole("heading", { name: "seed-v4-fatal" }).waitFor();
    await page.locator('[data-status="Failed"]').waitFor();
    expect(await page.getByLabel("Run error").textContent()).toContain("this cannot work");

    // A narrow window keeps the page usable (nothing wider than the viewport but tables).
    await page.setViewportSize({ width: 380, height: 800 });
    await page.getByRole("link", { name: "Stream" }).click();
    await page.locator(`tr[data-event="${id}"]`).waitFor();
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, "stream-narrow");
    expect(errors).toEqual([]);
    await page.close();
  });
});

/** The run an event started, once there is one. */
async function runOf(gwUrl: string, eventId: string): Promise<string> {
  let runId = "";
  const found = await waitFor(async () => {
    const res = await httpRequest(`${gwUrl}/v1/events/${eventId}/runs`);
    runId = res.status === 200 ? (JSON.parse(res.body).data[0]?.run_id ?? "") : "";
    return runId !== "";
  });
  if (!found) throw new Error(`no run for event ${eventId}`);
  return runId;
}

describe.each(["v4", "v3"] as const)("the console's run timeline (dev, SDK %s)", (sdk) => {
  let gw: RunningGateway | undefined;
  let app: TestApp | undefined;

  afterAll(async () => {
    await stopProcess(gw);
    await app?.close();
  });

  it("draws a waiting step as what it waits for, then the steps by name once the event came, a retried run's earlier error apart from its result, and odd step names readable", {
    timeout: 60_000,
  }, async () => {
    const started = await startAppAndGateway(sdk, ["dev", "--data-dir", tempDir("evt-console-")], {
      waits: true,
      timeline: true,
    });
    app = started.app;
    gw = started.gw;
    const page = await browser!.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));

    // A run waiting for an event: its first step, then the wait with its event, if and timeout.
    const sent = await sendEvents(gw.url, "k", { name: "test/wait", data: { id: "c-1" } });
    const runId = await runOf(gw.url, sent.body.ids![0]!);
    await page.goto(`${gw.url}/#/runs/${runId}`);
    const waiting = page.locator('[aria-label="Steps"] li[data-waiting]');
    await waiting.waitFor({ timeout: 15_000 });
    expect(await waiting.locator("[data-name]").textContent()).toBe("2. for-paid");
    expect(await waiting.locator("[data-op]").textContent()).toBe("waitForEvent");
    expect(await waiting.locator("[data-wait]").textContent()).toMatch(
      /^waits for test\/paid if async\.data\.id == "c-1", times out at /,
    );
    await shot(page, `run-waiting-${sdk}`);
    const waitingDetail = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${runId}`)).body).data;
    expect(waitingDetail.waiting_for).toMatchObject([{ name: "for-paid", kind: "waitForEvent" }]);

    // The event comes: the run goes on, and each step is drawn by name, op and duration.
    await sendEvents(gw.url, "k", { name: "test/paid", data: { id: "c-1", n: 7 } });
    await page.locator('[data-status="Completed"]').waitFor({ timeout: 15_000 });
    const steps = page.locator('[aria-label="Steps"] li[data-step]');
    expect(await steps.locator("[data-name]").allTextContents()).toEqual([
      "1. before",
      "2. for-paid",
      "3. after",
    ]);
    expect(await steps.locator("[data-op]").allTextContents()).toEqual([
      "step.run",
      "waitForEvent",
      "step.run",
    ]);
    expect(await steps.nth(1).locator("[data-wait]").textContent()).toBe("got test/paid");
    for (const d of await steps.locator("[data-duration]").allTextContents())
      expect(d).toMatch(/^\d+ ms$|^\d+\.\d s$/);
    expect(await page.locator("li[data-waiting]").count()).toBe(0);
    // Each step's start is stored: the call that produced it, or when the wait was recorded.
    const done = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${runId}`)).body).data;
    for (const st of done.steps as { started_at: string | null; updated_at: string }[]) {
      expect(st.started_at).not.toBeNull();
      expect(Date.parse(st.started_at!)).toBeLessThanOrEqual(Date.parse(st.updated_at));
    }
    expect(done.steps[1]).toMatchObject({
      name: "for-paid",
      op: "WaitForEvent",
      started_at: waitingDetail.waiting_for[0].since,
    });
    await shot(page, `run-timeline-${sdk}`);

    // A run whose first attempt failed and whose retry completed: completed, on its second
    // attempt, with the first attempt's error shown as such and not as the run's error.
    const flaky = await sendEvents(gw.url, "k", { name: "test/flaky", data: {} });
    const flakyRun = await runOf(gw.url, flaky.body.ids![0]!);
    await page.goto(`${gw.url}/#/runs/${flakyRun}`);
    await page.locator('[data-status="Completed"]').waitFor({ timeout: 30_000 });
    expect(await page.locator("[data-attempt]").textContent()).toBe("2 (1 failed before it)");
    await page.getByRole("heading", { name: "An earlier attempt failed" }).waitFor();
    expect(await page.getByLabel("Earlier attempt error").textContent()).toContain(
      "first attempt fails",
    );
    expect(await page.getByLabel("Run error").count()).toBe(0);
    // Its history: one row per attempt, the retried one with its error, then the completed one.
    const attemptRows = page.getByRole("table", { name: "Attempts" }).locator("tbody tr");
    await attemptRows.nth(1).waitFor();
    expect(
      await attemptRows.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-outcome"))),
    ).toEqual(["retried", "completed"]);
    expect(await attemptRows.nth(0).locator("td").nth(3).textContent()).toContain(
      "first attempt fails",
    );
    expect(await attemptRows.nth(1).locator("td").first().textContent()).toBe("2");
    const detail = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${flakyRun}`)).body).data;
    expect(detail).toMatchObject({ status: "Completed", error: null, attempt: 1 });
    expect(detail.last_error.message).toContain("first attempt fails");
    await shot(page, `run-retried-${sdk}`);

    // Odd step names (a newline, a tab, 300 characters) are kept readable, not refused: the
    // control characters dropped, cut at 255; a step that failed once shows its 2 attempts.
    const odd = await sendEvents(gw.url, "k", { name: "test/odd-names", data: {} });
    const oddRun = await runOf(gw.url, odd.body.ids![0]!);
    await page.goto(`${gw.url}/#/runs/${oddRun}`);
    await page.locator('[data-status="Completed"]').waitFor({ timeout: 30_000 });
    const oddSteps = page.locator('[aria-label="Steps"] li[data-step]');
    const expectedName = `line1line2${"é".repeat(245)}`;
    expect(await oddSteps.locator("[data-name]").allTextContents()).toEqual([
      `1. ${expectedName}`,
      "2. flaky-step",
    ]);
    expect(await oddSteps.nth(1).textContent()).toContain("2 attempts");
    const oddDetail = JSON.parse((await httpRequest(`${gw.url}/v1/runs/${oddRun}`)).body).data;
    expect(oddDetail.steps.map((st: { name: string }) => st.name)).toEqual([
      expectedName,
      "flaky-step",
    ]);
    // A long name wraps: the page is no wider than the window.
    expect(
      await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      ),
    ).toBeLessThanOrEqual(0);
    await shot(page, `run-odd-names-${sdk}`);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe("the console in start mode", () => {
  let gw: RunningGateway | undefined;

  afterAll(async () => {
    await stopProcess(gw);
  });

  it("asks for the API key before reading, then streams; the stream and files refuse what they should", async () => {
    gw = await startGatewayProcess([
      "start",
      "--port",
      "0",
      "--data-dir",
      tempDir("evt-console-start-"),
      "--dedup",
      "sqlite",
      "--store",
      "sqlite",
      "--event-key",
      "ek",
      "--api-key",
      "console-key",
    ]);
    // The page holds no data and is served to anyone; what it reads needs the key.
    expect((await httpRequest(`${gw.url}/`)).status).toBe(200);
    const stream = await httpRequest(`${gw.url}/v1/stream`);
    expect(stream.status).toBe(401);
    expect(JSON.parse(stream.body).error).toMatch(/needs an API key/);
    expect((await httpRequest(`${gw.url}/`, { method: "POST", body: "x" })).status).toBe(405);
    expect((await httpRequest(`${gw.url}/console/../../etc/passwd`)).status).toBe(404);
    expect((await httpRequest(`${gw.url}/console/nothing.js`)).status).toBe(404);
    expect((await httpRequest(`${gw.url}/v1/status`)).status).toBe(401);
    const status = await httpRequest(`${gw.url}/v1/status`, {
      headers: { authorization: "Bearer console-key" },
    });
    expect(JSON.parse(status.body).data).toMatchObject({
      mode: "start",
      drivers: { dedup: "sqlite", store: "sqlite", runs: "sqlite" },
      runs: { queued: 0, due: 0, running: 0 },
    });
    // A sync only of the gateway's own --app-url: a key cannot make it PUT anywhere else.
    const elsewhere = await httpRequest(
      `${gw.url}/v1/apps/sync?url=${encodeURIComponent("http://169.254.169.254/")}`,
      { method: "POST", headers: { authorization: "Bearer console-key" } },
    );
    expect(elsewhere.status).toBe(404);
    expect(JSON.parse(elsewhere.body).error).toMatch(/not an app URL this gateway syncs/);
    expect(
      (
        await httpRequest(`${gw.url}/v1/apps/sync`, {
          headers: { authorization: "Bearer console-key" },
        })
      ).status,
    ).toBe(405);
    expect((await httpRequest(`${gw.url}/v1/apps/sync`, { method: "POST" })).status).toBe(401);
    const js = await httpRequest(`${gw.url}/console/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toMatch(/javascript/);

    const page = await browser!.newPage();
    await page.goto(`${gw.url}/`);
    const key = page.getByPlaceholder("API key");
    await key.waitFor();
    await key.fill("console-key");
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("status").filter({ hasText: "live" }).waitFor();
    const sent = await sendEvents(gw.url, "ek", { name: "start/seen", data: {} });
    expect(sent.status).toBe(200);
    await page.locator(`tr[data-event="${sent.body.ids![0]}"]`).waitFor();
    await shot(page, "start-mode");
    await page.close();
  });
});
