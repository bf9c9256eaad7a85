import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import { runRunStoreConformance } from "@evt/functions/testing";
import { afterAll } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "evt-functions-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runRunStoreConformance("sqlite", (key) => createSqliteRunStore({ path: join(dir, `${key}.db`) }), {
  sharedData: true,
});
