import { createMemoryStore } from "@evt/dedup";
import { createEventApi } from "@evt/server";
import { createMemoryEventStore, type EventStore, StoreError } from "@evt/store";
import { describe, expect, it } from "vitest";
import { get, send } from "./support/http.js";

/** A store that answers pings but whose appends fail while `full` is set (a full disk). */
function diskFullStore() {
  const inner = createMemoryEventStore();
  const state = { full: false };
  const store: EventStore = {
    ...inner,
    driver: "disk-full",
    append(events) {
      if (state.full) {
        return Promise.reject(
          new StoreError("disk-full", "unavailable", "database or disk is full (SQLITE_FULL)", {
            retryable: true,
          }),
        );
      }
      return inner.append(events);
    },
  };
  return { store, state };
}

describe("readiness follows write failures", () => {
  it("answers /ready 503 once a write failed although pings pass, and 200 after a write succeeds", async () => {
    const { store, state } = diskFullStore();
    const api = createEventApi({ dedup: createMemoryStore(), store });
    expect((await get(api, "/ready")).status).toBe(200);
    state.full = true;
    expect((await send(api, { name: "a" })).status).toBe(503);
    const notReady = await get(api, "/ready");
    expect(notReady.status).toBe(503);
    expect(notReady.json.error).toMatch(
      /writes are failing since .*ready again once a write succeeds/,
    );
    expect(notReady.headers["retry-after"]).toBe("1");
    expect(await api.ready()).toBe(false);
    state.full = false;
    expect((await send(api, { name: "b" })).status).toBe(200);
    expect((await get(api, "/ready")).status).toBe(200);
    expect(await api.ready()).toBe(true);
  });

  it("falls back to the pings 30 s after the last failure when no write follows", async () => {
    let t = 1_000_000;
    const { store, state } = diskFullStore();
    const api = createEventApi({ dedup: createMemoryStore(), store, now: () => t });
    state.full = true;
    expect((await send(api, { name: "a" })).status).toBe(503);
    t += 29_000;
    expect((await get(api, "/ready")).status).toBe(503);
    t += 1_000;
    expect((await get(api, "/ready")).status).toBe(200);
  });

  it("a client's bad request does not make the gateway unready", async () => {
    const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
    expect((await send(api, { name: "" })).status).toBe(400);
    expect((await get(api, "/ready")).status).toBe(200);
  });
});
