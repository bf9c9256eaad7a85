import { EventClient, EventSendError } from "@evt/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, startGatewayProcess, stopProcess, tempDir } from "./helpers";

// @evt/client against the built evt-gateway binary in production mode (a real key, SQLite):
// the path an application takes, end to end.
describe("@evt/client -> evt-gateway start (SQLite)", () => {
  let gw: RunningGateway;
  const key = "e2e-key-0123456789";

  beforeAll(async () => {
    gw = await startGatewayProcess(
      ["start", "--port", "0", "--data-dir", tempDir(), "--event-key", key, "--api-key", "read"],
      {},
    );
  });
  afterAll(() => stopProcess(gw, "SIGTERM"));

  async function read(id: string, env = "production") {
    const res = await fetch(`${gw.url}/v1/events/${id}`, {
      headers: { authorization: "Bearer read", "x-inngest-env": env },
    });
    return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown> } };
  }

  it("sends one event, a batch and through the batcher; every id is stored as sent", async () => {
    const evt = new EventClient({ baseUrl: gw.url, eventKey: key });
    const one = await evt.send({
      name: "app/user.signup",
      data: { userId: "u1" },
      ts: 1_800_000_000_000,
    });
    expect(one.ids).toHaveLength(1);
    const stored = await read(one.ids[0]!);
    expect(stored.status).toBe(200);
    expect(stored.body.data).toMatchObject({
      internal_id: one.ids[0],
      name: "app/user.signup",
      data: { userId: "u1" },
      ts: 1_800_000_000_000,
      env: "production",
    });

    const batch = await evt.send(
      Array.from({ length: 250 }, (_, i) => ({ name: "app/order.placed", data: { i } })),
    );
    expect(new Set(batch.ids).size).toBe(250);
    for (const i of [0, 124, 249]) {
      expect((await read(batch.ids[i]!)).body.data).toMatchObject({ data: { i } });
    }

    const batcher = evt.batcher({ maxEvents: 40, flushIntervalMs: 20 });
    const ids = await Promise.all(
      Array.from({ length: 100 }, (_, i) => batcher.add({ name: "app/click", data: { i } })),
    );
    await batcher.close();
    expect(new Set(ids).size).toBe(100);
    expect((await read(ids[99]!)).body.data).toMatchObject({ name: "app/click", data: { i: 99 } });
  });

  it("deduplicates by id across sends and scopes it by environment", async () => {
    const prod = new EventClient({ baseUrl: gw.url, eventKey: key });
    const branch = new EventClient({ baseUrl: gw.url, eventKey: key, env: "feature-x" });
    const a = await prod.send({ name: "app/pay", id: "pay-1", data: { n: 1 } });
    const b = await prod.send({ name: "app/pay", id: "pay-1", data: { n: 2 } });
    const c = await branch.send({ name: "app/pay", id: "pay-1", data: { n: 3 } });
    expect(b.ids).toEqual(a.ids);
    expect(c.ids[0]).not.toBe(a.ids[0]);
    expect((await read(a.ids[0]!)).body.data).toMatchObject({ data: { n: 1 } });
    expect((await read(c.ids[0]!, "feature-x")).body.data).toMatchObject({ data: { n: 3 } });
  });

  it("a wrong key is one attempt and a non-retryable 401", async () => {
    const evt = new EventClient({ baseUrl: gw.url, eventKey: "not-the-key", maxAttempts: 5 });
    const err = await evt.send({ name: "app/x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventSendError);
    expect(err).toMatchObject({ status: 401, retryable: false, attempts: 1 });
    expect(String((err as Error).message)).not.toContain("not-the-key");
  });
});
