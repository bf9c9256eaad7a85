import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The ESM and CJS builds each bundle their own copy of EventSendError; an app that loads both (one
// dependency requires, another imports) must still see `instanceof` hold. Runs against dist/,
// which the build makes before the tests (turbo's test task depends on build).
const require = createRequire(import.meta.url);
// Paths built at run time, so type-checking (which may run before the build) does not need dist/.
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href;

describe("EventSendError across the ESM and CJS builds", () => {
  it("an error made by one build is instanceof the class of the other", async () => {
    const esm = (await import(dist("index.js"))) as typeof import("../src/index");
    const cjs = require(fileURLToPath(dist("index.cjs"))) as typeof esm;
    expect(esm.EventSendError).not.toBe(cjs.EventSendError);
    const fromCjs = new cjs.EventSendError("closed", "made by the CJS build");
    const fromEsm = new esm.EventSendError("closed", "made by the ESM build");
    expect(fromCjs).toBeInstanceOf(esm.EventSendError);
    expect(fromEsm).toBeInstanceOf(cjs.EventSendError);
    expect(fromCjs).toBeInstanceOf(Error);
    expect(new Error("x")).not.toBeInstanceOf(esm.EventSendError);
    expect({ code: "closed" }).not.toBeInstanceOf(cjs.EventSendError);
  });
});
