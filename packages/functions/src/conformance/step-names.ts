import { describe, expect, it } from "vitest";
import { FunctionsError } from "../errors";
import type { RunStore } from "../run-store";

/**
 * Conformance cases of step names and start times (`name`, `startedAt` of a memoized step,
 * `name` of a wait, copied to the step that resolves it), called by `runRunStoreConformance`
 * with its `open` (a fresh store), `event` (an event id per number) and `t0`.
 */
export function stepNamesConformance(ctx: {
  open: () => Promise<RunStore>;
  event: (n: number) => string;
  t0: number;
}): void {
  const { open, event, t0: T0 } = ctx;

  async function claimed(store: RunStore, n: number) {
    const { run } = await store.createRun({
      functionId: "app-names",
      eventInternalId: event(9_000 + n),
      env: "test",
      dueAt: T0,
      now: T0,
    });
    const [got] = await store.claimDue(T0, "w", 60_000, 1);
    expect(got?.runId).toBe(run.runId);
    return run;
  }

  describe("step names", () => {
    it("keeps a step's name and start; a step saved again without them keeps the stored ones", async () => {
      const store = await open();
      const run = await claimed(store, 1);
      const base = { op: "StepRun", data: 1, error: null, attempts: 1 };
      expect(
        await store.saveSteps(run.runId, "w", [
          { ...base, stepId: "h1", name: "before ✓ «ü»", startedAt: T0 + 5, updatedAt: T0 + 9 },
          { ...base, stepId: "h2", updatedAt: T0 + 10 },
        ]),
      ).toBe(true);
      expect(await store.listSteps(run.runId)).toEqual([
        {
          ...base,
          runId: run.runId,
          stepId: "h1",
          name: "before ✓ «ü»",
          startedAt: T0 + 5,
          updatedAt: T0 + 9,
        },
        {
          ...base,
          runId: run.runId,
          stepId: "h2",
          name: null,
          startedAt: null,
          updatedAt: T0 + 10,
        },
      ]);
      // A retried step: new data, attempts and start; a save without name keeps the name.
      await store.saveSteps(run.runId, "w", [
        { ...base, stepId: "h1", data: 2, attempts: 2, startedAt: T0 + 20, updatedAt: T0 + 21 },
      ]);
      expect((await store.listSteps(run.runId))[0]).toMatchObject({
        stepId: "h1",
        data: 2,
        attempts: 2,
        name: "before ✓ «ü»",
        startedAt: T0 + 20,
      });
    });

    it("a resolved wait memoizes its step with the wait's name and start", async () => {
      const store = await open();
      const run = await claimed(store, 2);
      expect(
        await store.waitRun(run.runId, "w", {
          waits: [
            {
              stepId: "wh",
              kind: "event",
              event: "app/approved",
              expression: null,
              expiresAt: T0 + 60_000,
              name: "wait-approval",
            },
            {
              stepId: "wn",
              kind: "event",
              event: "app/other",
              expression: null,
              expiresAt: T0 + 60_000,
            },
          ],
          now: T0 + 100,
          stepsSeen: 0,
        }),
      ).toBe(true);
      const waits = await store.listWaits(run.runId);
      expect(waits.map((w) => [w.stepId, w.name])).toEqual([
        ["wh", "wait-approval"],
        ["wn", null],
      ]);
      expect(
        await store.resolveWait(
          run.runId,
          "wh",
          { op: "WaitForEvent", data: { name: "app/approved" }, error: null },
          T0 + 500,
        ),
      ).toBe(true);
      expect(await store.listSteps(run.runId)).toEqual([
        {
          runId: run.runId,
          stepId: "wh",
          op: "WaitForEvent",
          data: { name: "app/approved" },
          error: null,
          attempts: 1,
          name: "wait-approval",
          startedAt: T0 + 100,
          updatedAt: T0 + 500,
        },
      ]);
    });

    it("refuses a name that is not text and a start that is not a time, storing nothing", async () => {
      const store = await open();
      const run = await claimed(store, 3);
      const base = { stepId: "s", op: "StepRun", data: 1, error: null, attempts: 1 };
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ name: "a\nb" }, /steps\[0\]\.name must be 1 to 255 characters without control/],
        [{ name: "x".repeat(256) }, /steps\[0\]\.name must be 1 to 255/],
        [{ name: "" }, /steps\[0\]\.name/],
        [{ name: 5 }, /steps\[0\]\.name/],
        [{ startedAt: -1 }, /steps\[0\]\.startedAt must be a time in ms/],
        [{ startedAt: "soon" }, /steps\[0\]\.startedAt/],
      ];
      for (const [over, message] of bad) {
        const err = await store
          .saveSteps(run.runId, "w", [{ ...base, ...over } as never])
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(FunctionsError);
        expect((err as Error).message).toMatch(message);
      }
      const waitErr = await store
        .waitRun(run.runId, "w", {
          waits: [
            {
              stepId: "w",
              kind: "event",
              event: "app/x",
              expression: null,
              expiresAt: T0 + 1,
              name: "\u0000",
            },
          ],
          now: T0,
          stepsSeen: 0,
        })
        .catch((e: unknown) => e);
      expect((waitErr as Error).message).toMatch(/input\.waits\[0\]\.name must be 1 to 255/);
      expect(await store.listSteps(run.runId)).toEqual([]);
      expect(await store.listWaits(run.runId)).toEqual([]);
    });
  });
}
