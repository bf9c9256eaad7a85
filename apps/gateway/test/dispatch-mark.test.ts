import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { StoredEvent } from "@evt/store";
import { createMemoryStore } from "@evt/store/memory";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { createDispatchMark, createOutbox } from "../src/dispatch-mark";
import { tempDir } from "./helpers";

const silent = pino({ level: "silent" });

function event(receivedAt: number, n: number): StoredEvent {
  return {
    internal_id: `01J00000000000000000000${String(n).padStart(3, "0")}`,
    id: null,
    name: "a/b",
    data: { n },
    user: null,
    ts: receivedAt,
    v: null,
    env: "production",
    received_at: receivedAt,
    source: null,
    source_id: null,
  };
}

describe("createDispatchMark", () => {
  it("is the earliest receipt in flight, never later than now - margin; a clean close leaves now", () => {
    let now = 100_000;
    const file = join(tempDir("evt-mark-"), "mark.json");
    const mark = createDispatchMark({ file, marginMs: 10_000, now: () => now });
    expect(mark.read()).toBeNull();
    expect(mark.current()).toBe(90_000);
    const a = mark.begin([event(95_000, 1), event(80_000, 2)], "production");
    const b = mark.begin([event(85_000, 3)], "branch");
    expect(mark.current()).toBe(80_000);
    a();
    expect(mark.current()).toBe(85_000);
    mark.start();
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({
      mark: 85_000,
      envs: ["production", "branch"],
    });
    now = 200_000;
    mark.close();
    // Still in flight at close: the mark stays before it.
    expect(mark.read()).toEqual({ mark: 85_000, envs: ["production", "branch"] });
    b();
    mark.close();
    expect(mark.read()?.mark).toBe(200_000);
  });
});

describe("createOutbox", () => {
  it("re-dispatches the events received since the last mark, in every env it saw", async () => {
    const file = join(tempDir("evt-outbox-"), "mark.json");
    const store = createMemoryStore();
    const t = Date.now();
    await store.append([event(t - 60_000, 1), event(t - 2_000, 2), event(t - 1_000, 3)]);
    await store.append([{ ...event(t - 1_500, 4), env: "branch" }]);
    // The previous run of the gateway left its mark 3 s ago, having seen both envs.
    const before = createDispatchMark({ file, marginMs: 3_000 });
    before.begin([event(t, 9)], "branch");
    before.close();
    const outbox = createOutbox(file, silent);
    const got: string[] = [];
    await outbox.recover(
      store,
      async (batch) => {
        got.push(...batch.events.map((e) => `${batch.env}:${(e.data as { n: number }).n}`));
        return [];
      },
      silent,
    );
    outbox.close();
    expect(got.sort()).toEqual(["branch:4", "production:2", "production:3"]);
  });

  it("retries a failed dispatch until it succeeds, holding the mark before its events meanwhile", async () => {
    const file = join(tempDir("evt-outbox-"), "mark.json");
    const outbox = createOutbox(file, silent, { retryMs: 20, marginMs: 0 });
    let fail = 2;
    const tried: number[] = [];
    await outbox.recover(
      createMemoryStore(),
      async (batch) => {
        tried.push(batch.events.length);
        if (fail-- > 0) throw new Error("run store down");
        return [];
      },
      silent,
    );
    const stored = event(Date.now() - 5_000, 1);
    const done = outbox.mark.begin([stored], "production");
    outbox.retry({ env: "production", events: [stored] }, done);
    expect(outbox.mark.current()).toBe(stored.received_at);
    for (let i = 0; i < 100 && outbox.mark.current() === stored.received_at; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(tried).toEqual([1, 1, 1]);
    expect(outbox.mark.current()).toBeGreaterThan(stored.received_at);
    outbox.close();
  });
});
