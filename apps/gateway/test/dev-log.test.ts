import { afterEach, describe, expect, it } from "vitest";
import {
  type RunningGateway,
  sendEvents,
  startGatewayProcess,
  stopProcess,
  waitFor,
} from "./helpers";

let gw: RunningGateway | undefined;
afterEach(async () => {
  await stopProcess(gw);
  gw = undefined;
});

const args = ["--port", "0", "--dedup", "memory", "--store", "memory"];

describe("the dev terminal (built binary)", () => {
  it("logs every accepted request at info in dev: names, count, ids, never data", async () => {
    gw = await startGatewayProcess(["dev", ...args]);
    const res = await sendEvents(gw.url, "any-key", [
      { name: "app/user.signup", data: { email: "secret@example.com" } },
      { name: "app/user.signup", data: { email: "other@example.com" } },
    ]);
    expect(res.status).toBe(200);
    await waitFor(() => gw!.stdout().includes("events received"));
    const line = JSON.parse(
      gw
        .stdout()
        .split("\n")
        .find((l) => l.includes("events received"))!,
    ) as { level: number; count: number; names: string[]; ids: string[] };
    expect(line.level).toBe(30);
    expect(line.count).toBe(2);
    expect(line.names).toEqual(["app/user.signup"]);
    expect(line.ids).toEqual(res.body.ids);
    expect(gw.stdout()).not.toContain("secret@example.com");
  });

  it("does not log accepted requests at info in start", async () => {
    gw = await startGatewayProcess(["start", ...args, "--event-key", "k1", "--api-key", "a1"]);
    expect((await sendEvents(gw.url, "k1", { name: "app/quiet" })).status).toBe(200);
    await sendEvents(gw.url, "k1", { name: "app/quiet" });
    expect(gw.stdout()).not.toContain("events received");
  });
});
