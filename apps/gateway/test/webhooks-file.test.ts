import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { clerkUserCreated, SVIX_SECRET, svixHeaders } from "../../../packages/webhooks/test/sign";
import { httpRequest, runCli, stopProcess, tempDir, waitFor } from "./helpers";
import { type AppAndGateway, startAppAndGateway } from "./sdk-apps";

const FIXED_ID = "clerk_Zm9yLXRlc3RzLW9ubHktMTI4Yml0cw";
const clerkSource = {
  id: FIXED_ID,
  name: "clerk",
  transform: { name: "'clerk/' + body.type", data: "body.data", id: "headers['svix-id']" },
  verify: { scheme: "svix", secret: SVIX_SECRET },
};

describe("--webhooks file and a real SDK app", () => {
  let running: AppAndGateway | undefined;
  afterAll(async () => {
    await stopProcess(running?.gw);
    await running?.app.close();
  });

  it("a signed Clerk user.created to /w/<fixed id> triggers the function on clerk/user.created (SDK v4), once per delivery", async () => {
    const dir = tempDir();
    const file = join(dir, "webhooks.json");
    writeFileSync(file, JSON.stringify([clerkSource]));
    running = await startAppAndGateway("v4", ["dev", "--data-dir", dir, "--webhooks", file], {
      webhooks: true,
    });
    const { gw, app } = running;
    const listed = await httpRequest(`${gw.url}/v1/webhooks`);
    const data = JSON.parse(listed.body).data;
    expect(data).toEqual([
      expect.objectContaining({ id: FIXED_ID, origin: "file", url: `${gw.url}/w/${FIXED_ID}` }),
    ]);
    expect(listed.body).not.toContain(SVIX_SECRET.slice(6, 20));
    expect(
      (await httpRequest(`${gw.url}/v1/webhooks/${FIXED_ID}`, { method: "DELETE" })).status,
    ).toBe(409);

    const body = JSON.stringify(clerkUserCreated);
    const headers = svixHeaders(body, { id: "msg_sdk_1" });
    const first = await httpRequest(`${gw.url}/w/${FIXED_ID}`, { method: "POST", body, headers });
    expect(first.status, first.body).toBe(200);
    const again = await httpRequest(`${gw.url}/w/${FIXED_ID}`, { method: "POST", body, headers });
    expect(JSON.parse(again.body).ids).toEqual(JSON.parse(first.body).ids);
    const ran = await waitFor(async () =>
      (await app.journal()).calls.some((c) => c.fn === "on-clerk-user"),
    );
    expect(ran).toBe(true);
    const calls = (await app.journal()).calls.filter((c) => c.fn === "on-clerk-user");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.data).toMatchObject({ id: clerkUserCreated.data.id, first_name: "Example" });

    // Sources made through the API live beside the runs: webhooks.sqlite in the data folder.
    const made = await httpRequest(`${gw.url}/v1/webhooks`, {
      method: "POST",
      body: JSON.stringify({ name: "later", verify: { scheme: "github", secret: "s" } }),
    });
    expect(made.status).toBe(201);
    expect(existsSync(join(dir, "webhooks.sqlite"))).toBe(true);
  });
});

describe("a bad --webhooks file stops the start with exit 2 and a clear message", () => {
  const dir = tempDir();
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const cases: [string, string, RegExp][] = [
    ["not JSON", "{nope", /is not JSON .*expected an array of webhook sources/],
    ["not an array", '{"id":"x"}', /must hold a JSON array of webhook sources, got object/],
    [
      "a short id",
      JSON.stringify([{ ...clerkSource, id: "short" }]),
      /webhooks\[0\]\.id: must be 22 to 128 characters/,
    ],
    [
      "a bad secret",
      JSON.stringify([{ ...clerkSource, verify: { scheme: "svix", secret: "plain" } }]),
      /webhooks\[0\]\.verify\.secret: must be a Standard Webhooks secret/,
    ],
    [
      "scheme none in start",
      JSON.stringify([{ id: FIXED_ID, name: "open" }]),
      /webhooks\[0\]\.verify\.scheme: is "none"/,
    ],
    [
      "the same id twice",
      JSON.stringify([clerkSource, clerkSource]),
      /webhooks\[1\]\.id is the same as an earlier entry's/,
    ],
  ];
  for (const [what, text, message] of cases) {
    it(what, async () => {
      const file = write(`${what.replaceAll(" ", "-")}.json`, text);
      const r = await runCli([
        "start",
        "--port",
        "0",
        "--event-key",
        "ek",
        "--api-key",
        "ak",
        "--data-dir",
        dir,
        "--webhooks",
        file,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('plain"');
    });
  }

  it("reads EVT_WEBHOOKS too, and names a missing file", async () => {
    const r = await runCli(
      ["start", "--port", "0", "--event-key", "ek", "--api-key", "ak", "--data-dir", dir],
      {
        EVT_WEBHOOKS: join(dir, "missing.json"),
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--webhooks ".*missing\.json" cannot be read: ENOENT/);
  });
});
