import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The ESM and CJS builds each bundle their own copy of TriggerError; `instanceof` must hold
// across them. Runs against dist/, which the build makes before the tests (turbo's test task
// depends on build). The CJS build also proves that it loads the ESM-only CEL library.
const require = createRequire(import.meta.url);
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href;

describe("TriggerError across the ESM and CJS builds", () => {
  it("an error made by one build is instanceof the class of the other", async () => {
    const esm = (await import(dist("index.js"))) as typeof import("../src/index");
    const cjs = require(fileURLToPath(dist("index.cjs"))) as typeof esm;
    expect(esm.TriggerError).not.toBe(cjs.TriggerError);
    let fromCjs: unknown;
    try {
      cjs.createTriggerIndex([{ id: "f", triggers: [{ event: "*" }] }]);
    } catch (err) {
      fromCjs = err;
    }
    expect(fromCjs).toBeInstanceOf(esm.TriggerError);
    expect(new esm.TriggerError("invalid_pattern", "x")).toBeInstanceOf(cjs.TriggerError);
    expect(new Error("x")).not.toBeInstanceOf(esm.TriggerError);
    const index = cjs.createTriggerIndex([
      { id: "f", triggers: [{ event: "a/*", expression: "event.data.x == 1" }] },
    ]);
    expect(index.match({ name: "a/b", data: { x: 1 } })).toEqual([
      { functionId: "f", triggerIndex: 0 },
    ]);
  });
});
