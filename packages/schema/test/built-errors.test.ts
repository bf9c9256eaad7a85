import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The ESM and CJS builds each bundle their own copy of EvtSchemaError; an app that loads both (one
// dependency requires, another imports) must still see `instanceof` hold. Runs against dist/,
// which the build makes before the tests (turbo's test task depends on build).
const require = createRequire(import.meta.url);
// Paths built at run time, so type-checking (which may run before the build) does not need dist/.
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href;

describe("EvtSchemaError across the ESM and CJS builds", () => {
  it("an error made by one build is instanceof the class of the other", async () => {
    const esm = (await import(dist("index.js"))) as typeof import("../src/index");
    const cjs = require(fileURLToPath(dist("index.cjs"))) as typeof esm;
    expect(esm.EvtSchemaError).not.toBe(cjs.EvtSchemaError);
    const fromCjs = new cjs.EvtSchemaError("invalid_catalog", "made by the CJS build");
    const fromEsm = new esm.EvtSchemaError("invalid_catalog", "made by the ESM build");
    expect(fromCjs).toBeInstanceOf(esm.EvtSchemaError);
    expect(fromEsm).toBeInstanceOf(cjs.EvtSchemaError);
    expect(fromCjs).toBeInstanceOf(Error);
    expect(new Error("x")).not.toBeInstanceOf(esm.EvtSchemaError);
    expect({ code: "invalid_catalog" }).not.toBeInstanceOf(cjs.EvtSchemaError);
  });
});
