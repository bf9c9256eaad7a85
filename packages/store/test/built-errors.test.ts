import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

// Each entry of the built package (and its ESM and CJS builds) bundles its own copy of
// StoreError; `instanceof` must hold across them. Runs against dist/, which the build makes
// before the tests (turbo's test task depends on build).
const require = createRequire(import.meta.url);

describe("StoreError across the built entries", () => {
  it("an error from @evt/store/sqlite is instanceof the StoreError of @evt/store, ESM and CJS", async () => {
    const esm = await import("../dist/index.js");
    const esmSqlite = await import("../dist/sqlite.js");
    const cjs = require("../dist/index.cjs") as typeof esm;
    const cjsSqlite = require("../dist/sqlite.cjs") as typeof esmSqlite;
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
