import { createMemoryEventStore, createMemoryStore } from "@evt/store/memory";
import { runStoreConformance } from "@evt/store/testing";
import { describe, expect, it } from "vitest";

runStoreConformance("memory", async () => createMemoryStore(), {
  keyOrder: true,
  nulCharacter: true,
});

describe("memory store", () => {
  it("keeps its own copy: mutating the appended object changes nothing stored", async () => {
    const store = createMemoryEventStore();
    const data = { count: 1 };
    const e = {
      internal_id: "01A",
      id: null,
      name: "a",
      data,
      user: null,
      ts: 1,
      v: null,
      env: "production",
      received_at: 1,
      source: null,
      source_id: null,
    };
    await store.append([e]);
    data.count = 2;
    const got = await store.get("01A", "production");
    expect(got?.data).toEqual({ count: 1 });
    got!.data.count = 3;
    expect((await store.get("01A", "production"))?.data).toEqual({ count: 1 });
    expect(store.driver).toBe("memory");
  });
});
