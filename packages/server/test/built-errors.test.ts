import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Each entry of the built package (and its ESM and CJS builds) bundles its own copy of
// ServerError; `instanceof` must hold across them. Runs against dist/, which the build makes
// before the tests (turbo's test task depends on build).
const require = createRequire(import.meta.url);
// Paths built at run time, so type-checking (which may run before the build) does not need dist/.
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href;

describe("ServerError across the built entries", () => {
  it("an error from @evt/server/node is instanceof the ServerError of @evt/server, ESM and CJS", async () => {
    const esm = (await import(dist("index.js"))) as typeof import("../src/index");
    const esmNode = (await import(dist("node.js"))) as typeof import("../src/node");
    const cjs = require(fileURLToPath(dist("index.cjs"))) as typeof esm;
    const cjsNode = require(fileURLToPath(dist("node.cjs"))) as typeof esmNode;
    const api = { maxRequestBytes: 1024 } as never;
    for (const listen of [esmNode.listen, cjsNode.listen]) {
      const error = await listen(api, { port: -1 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(esm.ServerError);
      expect(error).toBeInstanceOf(cjs.ServerError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code: "invalid_options" });
    }
    expect(new Error("x")).not.toBeInstanceOf(esm.ServerError);
    expect({ code: "invalid_options" }).not.toBeInstanceOf(cjs.ServerError);
  });
});
