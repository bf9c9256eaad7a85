import { createMemoryStore } from "@evt/dedup";
import { createMemoryEventStore } from "@evt/store";
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../src/index";
import { dropTestData, httpRequest, POSTGRES_URL, tempDir, uniqueSuffix } from "./helpers";

const definition = { name: "kept", verify: { scheme: "github", secret: "s3cret" } };

async function createThenRestart(settings: Record<string, unknown>) {
  const start = () =>
    startGateway({
      mode: "dev",
      port: 0,
      logLevel: "silent",
      ...settings,
      stores: { dedup: createMemoryStore(), store: createMemoryEventStore() },
    });
  const one = await start();
  let id: string;
  try {
    const made = await httpRequest(`${one.url}/v1/webhooks`, {
      method: "POST",
      body: JSON.stringify(definition),
    });
    expect(made.status).toBe(201);
    id = JSON.parse(made.body).data.id;
  } finally {
    await one.close();
  }
  const two = await start();
  try {
    const got = await httpRequest(`${two.url}/v1/webhooks/${id}`);
    expect(got.status).toBe(200);
    expect(JSON.parse(got.body).data).toMatchObject({
      id,
      name: "kept",
      verify: { scheme: "github", secrets: 1 },
    });
  } finally {
    await two.close();
  }
}

describe("webhook sources live beside the run state and survive a restart", () => {
  const prefix = `evt_gwwh_${uniqueSuffix()}_`;
  afterAll(async () => {
    await dropTestData(`unused:${prefix}`, prefix);
  });

  it("in webhooks.sqlite in the data folder when --runs is sqlite", async () => {
    await createThenRestart({ runs: "sqlite", dataDir: tempDir() });
  });

  it("in PostgreSQL (<prefix>webhook_sources) when --runs is postgres://", async () => {
    await createThenRestart({ runs: POSTGRES_URL, pgTablePrefix: prefix });
  });
});
