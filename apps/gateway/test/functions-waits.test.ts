import { afterAll, describe, expect, it } from "vitest";
import {
  httpRequest,
  type RunningGateway,
  sendEvents,
  stopProcess,
  tempDir,
  waitFor,
} from "./helpers";
import { type SdkVersion, startAppAndGateway, type TestApp } from "./sdk-apps";

interface RunView {
  run_id: string;
  status: string;
  output: unknown;
  error: { name?: string; message?: string } | null;
  waiting_for?: {
    step_id: string;
    kind: string;
    event: string;
    if: string | null;
    timeout_at: string;
  }[];
}

async function runOf(url: string, internalId: string): Promise<RunView | undefined> {
  const res = await httpRequest(`${url}/v1/events/${internalId}/runs`);
  const list = (JSON.parse(res.body) as { data: RunView[] }).data;
  if (list[0] === undefined) return undefined;
  const detail = await httpRequest(`${url}/v1/runs/${list[0].run_id}`);
  return (JSON.parse(detail.body) as { data: RunView }).data;
}

async function send(url: string, events: unknown): Promise<string[]> {
  const res = await sendEvents(url, "k", events);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.ids!;
}

const WAITING = 1_000;

describe.each<SdkVersion>(["v3", "v4"])(
  "step.waitForEvent and step.invoke with SDK %s",
  (version) => {
    let gw: RunningGateway | undefined;
    let app: TestApp | undefined;

    afterAll(async () => {
      await stopProcess(gw);
      await app?.close();
    });

    it(`resumes the right run among ${WAITING} waiting, with the matching event; null at the timeout; an earlier event does not count`, async () => {
      const started = await startAppAndGateway(
        version,
        ["dev", "--data-dir", tempDir("evt-fn-waits-")],
        { waits: true },
      );
      app = started.app;
      gw = started.gw;
      const url = gw.url;

      // An event stored before the wait: it must not resume it.
      await send(url, { name: "test/paid", data: { id: "early", n: -1 } });
      const [early] = await send(url, { name: "test/wait", data: { id: "early", timeout: "3s" } });
      const [timed] = await send(url, { name: "test/wait", data: { id: "alone", timeout: "2s" } });

      const ids: string[] = [];
      for (let i = 0; i < WAITING; i += 100) {
        ids.push(
          ...(await send(
            url,
            Array.from({ length: 100 }, (_, j) => ({
              name: "test/wait",
              data: { id: `w${i + j}` },
            })),
          )),
        );
      }
      // All waiting: the view shows what for, and they stay Running.
      const allWaiting = await waitFor(async () => {
        const journal = await app!.journal();
        return (
          journal.effects.filter((e) => e.fn === "waiter" && e.key === "before").length >=
          WAITING + 2
        );
      }, 60_000);
      expect(allWaiting).toBe(true);
      const picked = ids[437]!;
      const view = await waitFor(
        async () => ((await runOf(url, picked))?.waiting_for?.length ?? 0) > 0,
        20_000,
      );
      expect(view).toBe(true);
      const before = (await runOf(url, picked))!;
      expect(before.status).toBe("Running");
      expect(before.waiting_for).toMatchObject([
        { kind: "waitForEvent", event: "test/paid", if: 'async.data.id == "w437"' },
      ]);

      await send(url, { name: "test/paid", data: { id: "w437", n: 437 } });
      const resumed = await waitFor(
        async () => (await runOf(url, picked))?.status === "Completed",
        20_000,
      );
      expect(resumed).toBe(true);
      const done = (await runOf(url, picked))!;
      expect(done.output).toEqual({ id: "w437", got: { id: "w437", n: 437 } });
      expect(done.waiting_for).toEqual([]);

      // Timeouts resume with null; the early event did not count.
      expect(
        await waitFor(async () => (await runOf(url, timed!))?.status === "Completed", 20_000),
      ).toBe(true);
      expect((await runOf(url, timed!))!.output).toEqual({ id: "alone", got: null });
      expect(
        await waitFor(async () => (await runOf(url, early!))?.status === "Completed", 20_000),
      ).toBe(true);
      expect((await runOf(url, early!))!.output).toEqual({ id: "early", got: null });

      // Only that one run resumed: every other is still waiting.
      const journal = await app.journal();
      const after = journal.effects.filter((e) => e.fn === "waiter" && e.key !== "before");
      expect(after.map((e) => e.key).sort()).toEqual(["got:437", "timeout", "timeout"]);
      expect((await runOf(url, ids[0]!))!.status).toBe("Running");
      // A second matching event finds no wait left.
      await send(url, { name: "test/paid", data: { id: "w437", n: 999 } });
      await send(url, { name: "test/paid", data: { id: "w1", n: 1 } });
      expect(
        await waitFor(async () => (await runOf(url, ids[1]!))?.status === "Completed", 20_000),
      ).toBe(true);
      const effects = (await app.journal()).effects.filter(
        (e) => e.fn === "waiter" && e.key.startsWith("got:"),
      );
      expect(effects.map((e) => e.key).sort()).toEqual(["got:1", "got:437"]);
    }, 180_000);

    it("DELETE /v1/runs/:id and cancelOn of a waiting run leave no wait behind", async () => {
      const url = gw!.url;
      const [id] = await send(url, { name: "test/wait", data: { id: "cancel-me" } });
      expect(
        await waitFor(async () => ((await runOf(url, id!))?.waiting_for?.length ?? 0) > 0, 20_000),
      ).toBe(true);
      const run = (await runOf(url, id!))!;
      const res = await httpRequest(`${url}/v1/runs/${run.run_id}`, { method: "DELETE" });
      expect(res.status).toBe(200);
      const after = (await runOf(url, id!))!;
      expect(after.status).toBe("Cancelled");
      expect(after.waiting_for).toEqual([]);
      // cancelOn too.
      const [other] = await send(url, { name: "test/wait", data: { id: "cancel-on" } });
      const waiting = await waitFor(
        async () => ((await runOf(url, other!))?.waiting_for?.length ?? 0) > 0,
        20_000,
      );
      expect(waiting).toBe(true);
      await send(url, { name: "test/wait-cancel", data: { id: "cancel-on" } });
      expect(
        await waitFor(async () => (await runOf(url, other!))?.status === "Cancelled", 20_000),
      ).toBe(true);
      expect((await runOf(url, other!))!.waiting_for).toEqual([]);
    }, 60_000);

    it("two waits at once (Promise.all): each resumes with its own event", async () => {
      const url = gw!.url;
      const [id] = await send(url, { name: "test/wait-two", data: { id: "pair" } });
      const both = await waitFor(
        async () => ((await runOf(url, id!))?.waiting_for?.length ?? 0) === 2,
        20_000,
      );
      expect(both).toBe(true);
      await send(url, { name: "test/b", data: { id: "pair", n: 2 } });
      expect(
        await waitFor(
          async () => ((await runOf(url, id!))?.waiting_for?.length ?? 0) === 1,
          20_000,
        ),
      ).toBe(true);
      await send(url, { name: "test/a", data: { id: "pair", n: 1 } });
      expect(
        await waitFor(async () => (await runOf(url, id!))?.status === "Completed", 20_000),
      ).toBe(true);
      expect((await runOf(url, id!))!.output).toEqual({ a: 1, b: 2 });
    }, 60_000);

    it("a bad if, a bad timeout or no event name fails the run with a clear error", async () => {
      const url = gw!.url;
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ event: "test/x", timeout: "1h", if: "async.data.id ==" }, /if .* does not compile/],
        [{ event: "test/x", timeout: "soon" }, /has a timeout evt cannot read/],
        [{ event: "", timeout: "1h" }, /no event name to wait for/],
        [{ event: "test/*", timeout: "1h" }, /one exact event name, without wildcards/],
        [
          { event: "test/x", timeout: "1h", if: "async.data.n + 1" },
          /does not compile|must evaluate to a bool/,
        ],
      ];
      for (const [data, message] of cases) {
        const [id] = await send(url, { name: "test/wait-bad", data });
        const failed = await waitFor(
          async () => (await runOf(url, id!))?.status === "Failed",
          20_000,
        );
        expect(failed, JSON.stringify(data)).toBe(true);
        const run = (await runOf(url, id!))!;
        expect(run.error?.name).toBe("EvtWaitError");
        expect(run.error?.message).toMatch(message);
      }
    }, 60_000);

    it("step.invoke returns the child's output, fails with the child's error, and fails at its timeout", async () => {
      const url = gw!.url;
      const [ok] = await send(url, { name: "test/invoke", data: { x: 21 } });
      const [bad] = await send(url, { name: "test/invoke", data: { x: 1, mode: "fail" } });
      const [slow] = await send(url, {
        name: "test/invoke",
        data: { x: 1, mode: "slow", timeout: "2s" },
      });

      expect(
        await waitFor(async () => (await runOf(url, ok!))?.status === "Completed", 30_000),
      ).toBe(true);
      expect((await runOf(url, ok!))!.output).toEqual({ child: { doubled: 42 } });

      expect(await waitFor(async () => (await runOf(url, bad!))?.status === "Failed", 30_000)).toBe(
        true,
      );
      expect((await runOf(url, bad!))!.error?.message).toMatch(/the child failed on purpose/);

      expect(
        await waitFor(async () => (await runOf(url, slow!))?.status === "Failed", 30_000),
      ).toBe(true);
      expect((await runOf(url, slow!))!.error?.message).toMatch(
        /Timed out waiting for invoked function/,
      );

      // Only the invoked function ran on the invoked events (one child per invoke), and the
      // parent's next step ran once, for the one that succeeded.
      const journal = await app!.journal();
      const children = journal.calls.filter((c) => c.fn === "invoke-child");
      expect(new Set(children.map((c) => c.runId)).size).toBe(3);
      expect(journal.effects.filter((e) => e.fn === "invoker")).toHaveLength(1);
      // Each child's inngest/function.invoked event is stored as sent by its parent run.
      const okRun = (await runOf(url, ok!))!;
      const invoked = JSON.parse(
        (await httpRequest(`${url}/v1/events?name=inngest/function.invoked&limit=100`)).body,
      ).data as { source: string; source_id: string }[];
      expect(invoked.filter((e) => e.source_id === okRun.run_id)).toEqual([
        expect.objectContaining({ source: "function" }),
      ]);
    }, 90_000);
  },
);
