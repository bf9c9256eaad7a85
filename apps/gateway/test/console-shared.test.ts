import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest, type RunningGateway, sendEvents, waitFor } from "./helpers";
import { type GatewayPair, startGatewayPair } from "./sdk-apps";

// The console of either of two gateways sharing PostgreSQL sees what the other one did.

interface Status {
  recent_failures: { run_id: string; function_id: string; event_id: string; failed_at: string }[];
}

async function status(gw: RunningGateway): Promise<Status> {
  const res = await httpRequest(`${gw.url}/v1/status`);
  expect(res.status, res.body).toBe(200);
  return JSON.parse(res.body).data as Status;
}

/** An open `GET /v1/stream` and what it carried so far. */
function openStream(gw: RunningGateway) {
  return new Promise<{ text: () => string; close: () => void }>((resolve, reject) => {
    const req = request(`${gw.url}/v1/stream`, { agent: false });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      resolve({ text: () => text, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the console across two gateways on one PostgreSQL", () => {
  let pair: GatewayPair | undefined;

  beforeAll(async () => {
    pair = await startGatewayPair("v4", {
      label: "cons",
      ready: (ids) => ids.includes("seed-v4-fatal"),
    });
  }, 60_000);

  afterAll(async () => {
    await pair?.close();
  });

  it("lists a run that failed in /v1/status of both gateways, whichever ran it", async () => {
    const { a, b } = pair!;
    const sent = await sendEvents(a.url, "k", { name: "test/fatal", data: { shared: true } });
    expect(sent.status).toBe(200);
    const eventId = sent.body.ids![0]!;
    let runs: { run_id: string; status: string }[] = [];
    expect(
      await waitFor(async () => {
        runs = JSON.parse((await httpRequest(`${a.url}/v1/events/${eventId}/runs`)).body).data;
        return runs.length === 1 && runs[0]!.status === "Failed";
      }, 20_000),
    ).toBe(true);
    for (const gw of [a, b]) {
      const failures = (await status(gw)).recent_failures;
      expect(failures.find((f) => f.event_id === eventId)).toMatchObject({
        run_id: runs[0]!.run_id,
        function_id: "seed-v4-fatal",
        failed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    }
  });

  it("streams an event sent to gateway A on gateway B's console, once, with its source", async () => {
    const { a, b } = pair!;
    const streamB = await openStream(b);
    const streamA = await openStream(a);
    try {
      const sent = await sendEvents(a.url, "k", { name: "test/across", data: {} });
      const id = sent.body.ids![0]!;
      const carried = (s: { text: () => string }) =>
        s.text().split(`"internal_id":"${id}"`).length - 1;
      expect(await waitFor(async () => carried(streamB) === 1, 15_000), streamB.text()).toBe(true);
      expect(streamB.text()).toContain(`"source":"api"`);
      // And once on A, which published it itself (its own read of the store skips it).
      expect(await waitFor(async () => carried(streamA) === 1, 15_000)).toBe(true);
      // Two more reads of the store later, neither stream carried it a second time.
      await new Promise((r) => setTimeout(r, 2_500));
      expect([carried(streamA), carried(streamB)]).toEqual([1, 1]);
    } finally {
      streamA.close();
      streamB.close();
    }
  });
});
