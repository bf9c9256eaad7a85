import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Each entry of the built package (and its ESM and CJS builds) bundles its own copy of
// FunctionsError; `instanceof` must hold across them. Runs against dist/ (built before tests).
const require = createRequire(import.meta.url);
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href;

describe("FunctionsError across the built entries", () => {
  it("an error from @evt/functions/sqlite is instanceof the FunctionsError of @evt/functions, ESM and CJS", async () => {
    const esm = (await import(dist("index.js"))) as typeof import("../src/index");
    const esmSqlite = (await import(dist("sqlite.js"))) as typeof import("../src/sqlite");
    const cjs = require(fileURLToPath(dist("index.cjs"))) as typeof esm;
    const cjsSqlite = require(fileURLToPath(dist("sqlite.cjs"))) as typeof esmSqlite;
    const thrown = (make: () => unknown): unknown => {
      try {
        make();
      } catch (error) {
        return error;
      }
      throw new Error("expected a throw");
    };
    const fromEsm = thrown(() => esmSqlite.createSqliteRunStore({} as never));
    const fromCjs = thrown(() => cjsSqlite.createSqliteRunStore({} as never));
    for (const error of [fromEsm, fromCjs]) {
      expect(error).toBeInstanceOf(esm.FunctionsError);
      expect(error).toBeInstanceOf(cjs.FunctionsError);
      expect(error).toBeInstanceOf(Error);
      expect(esm.isFunctionsError(error, "invalid_input")).toBe(true);
    }
    expect(new Error("x")).not.toBeInstanceOf(esm.FunctionsError);
    expect({ code: "invalid_input", retryable: false }).not.toBeInstanceOf(cjs.FunctionsError);
  });

  it("the built @evt/functions/postgres loads pg on first use (ESM and CJS) and throws the shared FunctionsError", async () => {
    const esm = (await import(dist("index.js"))) as typeof import("../src/index");
    const builds = [
      (await import(dist("postgres.js"))) as typeof import("../src/postgres"),
      require(fileURLToPath(dist("postgres.cjs"))) as typeof import("../src/postgres"),
    ];
    const url = process.env.EVT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/evt_test";
    for (const build of builds) {
      let error: unknown;
      try {
        build.createPostgresRunStore({ connectionString: url, tablePrefix: "bad-prefix" });
      } catch (e) {
        error = e;
      }
      expect(esm.isFunctionsError(error, "invalid_input")).toBe(true);
      // No table is created (autoMigrate off): a "does not exist" answer proves that pg was
      // loaded, connected and the query sent.
      const tablePrefix = `evt_fn_missing_${process.pid}_`;
      const store = build.createPostgresRunStore({
        connectionString: url,
        tablePrefix,
        autoMigrate: false,
      });
      const failed = await store.nextDueAt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(esm.isFunctionsError(failed, "failed")).toBe(true);
      expect((failed as Error).message).toMatch(
        /relation "evt_fn_missing_\d+_runs" does not exist/,
      );
      await store.close();
    }
  });
});
