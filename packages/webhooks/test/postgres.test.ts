import { randomUUID } from "node:crypto";
import { createPostgresWebhookStore } from "@evt/webhooks/postgres";
import { runWebhookStoreConformance } from "@evt/webhooks/testing";
import pg from "pg";
import { afterAll } from "vitest";

const url = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
const prefix = `evt_wh_${randomUUID().replaceAll("-", "").slice(0, 10)}_`;

afterAll(async () => {
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  await admin.query(`DROP TABLE IF EXISTS "${prefix}webhook_sources"`);
  await admin.end();
});

runWebhookStoreConformance("postgres", async () =>
  createPostgresWebhookStore({ connectionString: url, tablePrefix: prefix }),
);
