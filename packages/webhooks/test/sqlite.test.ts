import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteWebhookStore } from "@evt/webhooks/sqlite";
import { runWebhookStoreConformance } from "@evt/webhooks/testing";
import { afterAll } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "evt-webhooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runWebhookStoreConformance("sqlite", async () =>
  createSqliteWebhookStore({ path: join(dir, "webhooks.sqlite") }),
);
