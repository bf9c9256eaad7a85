import { createMemoryStore } from "@evt/dedup";
import { createEventApi, ingest } from "@evt/server";
import { createMemoryEventStore } from "@evt/store";
import { describe, expect, it } from "vitest";
import { send } from "./support/http.js";

describe("createEventApi({ ingest })", () => {
  it("runs the store step of every request through the given function, with the same answer", async () => {
    const calls: string[][] = [];
    const api = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      ingest: (deps, events, ...rest) => {
        calls.push(events.map((e) => e.name));
        return ingest(deps, events, ...rest);
      },
    });
    const first = await send(api, [{ name: "app/a", id: "x" }, { name: "app/b" }]);
    expect(first.status).toBe(200);
    const again = await send(api, { name: "app/a", id: "x" });
    expect(again.json.ids).toEqual([first.json.ids[0]]);
    expect(calls).toEqual([["app/a", "app/b"], ["app/a"]]);
  });

  it("answers 503 when the given step reports a retryable failure", async () => {
    const api = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      ingest: async () => ({
        ok: false,
        stage: "claim",
        error: Object.assign(new Error("the worker is gone"), { retryable: true }),
      }),
    });
    expect((await send(api, { name: "app/a" })).status).toBe(503);
  });

  it("refuses an ingest that is not a function, naming the option", () => {
    expect(() =>
      createEventApi({
        dedup: createMemoryStore(),
        store: createMemoryEventStore(),
        ingest: "fast" as never,
      }),
    ).toThrow(/options.ingest must be a function/);
  });
});
