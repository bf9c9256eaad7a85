import { createMemoryStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { createMemoryEventStore } from "@evt/store";
import { describe, expect, it } from "vitest";
import { get, send } from "./support/http.js";

describe("since/until as ISO 8601", () => {
  it("reads ISO times with a zone as the same instants as milliseconds", async () => {
    let t = Date.parse("2024-12-02T12:00:00Z");
    const api = createEventApi({
      dedup: createMemoryStore(),
      store: createMemoryEventStore(),
      now: () => t,
    });
    for (const name of ["a.before", "a.at", "a.after"]) {
      expect((await send(api, { name })).status).toBe(200);
      t += 60_000;
    }
    const names = async (query: string) =>
      ((await get(api, `/v1/events?${query}`)).json.data as { name: string }[]).map((e) => e.name);
    expect(await names("since=2024-12-02T12:01:00Z&until=2024-12-02T12:02:00Z")).toEqual(["a.at"]);
    expect(await names("since=2024-12-02T13:01:00%2B01:00")).toEqual(["a.after", "a.at"]);
    expect(
      await names(`since=${Date.parse("2024-12-02T12:01:00Z")}&until=2024-12-02T12:02:00.000Z`),
    ).toEqual(["a.at"]);
  });
});
