import { DedupError, isDedupError } from "@evt/dedup";
import { describe, expect, it } from "vitest";
import { importLib } from "../src/internal.js";

describe("DedupError", () => {
  it("carries name, code, retryable, driver and cause, with a prefixed message", () => {
    const cause = new Error("ECONNREFUSED");
    const err = new DedupError("unavailable", "Redis did not answer", { driver: "redis", cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("DedupError");
    expect(err.message).toBe("[evt/dedup] [redis] Redis did not answer");
    expect(err).toMatchObject({ code: "unavailable", retryable: true, driver: "redis" });
    expect(err.cause).toBe(cause);
    expect(new DedupError("internal", "x").retryable).toBe(false);
    expect(new DedupError("internal", "x", { retryable: true }).retryable).toBe(true);
  });

  it("is recognised across copies of the class (each entry and build bundles its own)", () => {
    const foreign = new Error("[evt/dedup] x");
    Object.defineProperty(foreign, Symbol.for("@evt/dedup.DedupError"), { value: true });
    expect(foreign).toBeInstanceOf(DedupError);
    expect(isDedupError(foreign)).toBe(true);
    expect(isDedupError(new Error("other"))).toBe(false);
    expect(isDedupError(null)).toBe(false);
  });
});

describe("lazy loading of client libraries", () => {
  it("says what to install when the library is missing", async () => {
    const err = await importLib("redis", "ioredis", () =>
      Promise.reject(new Error("Cannot find package 'ioredis'")),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DedupError);
    expect(err).toMatchObject({ code: "missing_dependency", retryable: false });
    expect((err as Error).message).toMatch(/npm install ioredis/);
  });

  it("keeps the root entry free of static imports of the client libraries", async () => {
    const { readFile } = await import("node:fs/promises");
    for (const file of ["sqlite", "redis", "postgres"]) {
      const src = await readFile(new URL(`../src/drivers/${file}.ts`, import.meta.url), "utf8");
      const staticImports = src.match(
        /^import (?!type )[^;]*from "(better-sqlite3|ioredis|pg)";/gm,
      );
      expect(staticImports).toBeNull();
    }
  });
});
