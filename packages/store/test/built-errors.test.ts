import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Each entry of the built package (and its ESM and CJS builds) bundles its own copy of
// StoreError; `instanceof` must hold across them. Runs against dist/, which the build makes
// before the tests (turbo's test task depends on build).
const require = createRequire(import.meta.url);
// Paths built at run time, so type-checking (which may run before the build) does not need dist/.
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href;

describe("StoreError across the built entries", () => {
  it("an error from @evt/store/sqlite is instanceof the StoreError of @evt/store, ESM and CJS", async () => {
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
    const fromEsm = thrown(() => esmSqlite.createSqliteStore({} as never));
    const fromCjs = thrown(() => cjsSqlite.createSqliteStore({} as never));
    for (const error of [fromEsm, fromCjs]) {
      expect(error).toBeInstanceOf(esm.StoreError);
      expect(error).toBeInstanceOf(cjs.StoreError);
      expect(error).toBeInstanceOf(Error);
      expect(esm.isStoreError(error, "invalid_input")).toBe(true);
    }
    expect(new Error("x")).not.toBeInstanceOf(esm.StoreError);
    expect({ code: "invalid_input", retryable: false }).not.toBeInstanceOf(cjs.StoreError);
  });
});
