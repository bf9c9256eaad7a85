import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import { runRunStoreConformance } from "@evt/functions/testing";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "evt-functions-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runRunStoreConformance("sqlite", (key) => createSqliteRunStore({ path: join(dir, `${key}.db`) }), {
  sharedData: true,
});

describe("sqlite run store with a shared commit (one connection, several stores)", () => {
  it("writes in the coordinator's transaction and answers only after it committed", async () => {
    const database = new Database(":memory:");
    const parts: { write(): void; committed(): void; alone(): void }[] = [];
    const runs = createSqliteRunStore({
      database,
      sharedCommit: { join: (part) => void parts.push(part) },
    });
    await runs.countActive(Date.now());
    let answered = false;
    const created = runs
      .createRun({
        functionId: "app-fn",
        eventInternalId: "01J0000000000000000000000A",
        env: "dev",
        dueAt: Date.now(),
      })
      .then((r) => {
        answered = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    expect(parts).toHaveLength(1);
    database.exec("BEGIN IMMEDIATE");
    parts[0]!.write();
    database.exec("COMMIT");
    expect(answered).toBe(false);
    parts[0]!.committed();
    expect((await created).created).toBe(true);
    await runs.close();
    database.close();
  });

  it("refuses sharedCommit without a database, naming the option", () => {
    expect(() =>
      createSqliteRunStore({ path: join(dir, "x.db"), sharedCommit: { join() {} } }),
    ).toThrow(/options.sharedCommit needs options.database/);
  });
});
