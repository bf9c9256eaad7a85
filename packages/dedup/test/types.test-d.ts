import {
  type ClaimResult,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  DedupError,
  type DedupErrorCode,
  type DedupStore,
} from "@evt/dedup";
import { createRedisStore } from "@evt/dedup/redis";
import { runDedupConformance } from "@evt/dedup/testing";
import { describe, expectTypeOf, it } from "vitest";

describe("public types", () => {
  it("narrows a claim result on fresh", () => {
    const r = {} as ClaimResult;
    if (!r.fresh) expectTypeOf(r.value).toEqualTypeOf<string>();
    // @ts-expect-error a fresh result carries no value
    if (r.fresh) void r.value;
  });

  it("returns stores, with extra members only where documented", () => {
    expectTypeOf(createMemoryStore()).toEqualTypeOf<DedupStore>();
    expectTypeOf(createRedisStore({ url: "redis://x" })).toEqualTypeOf<DedupStore>();
    expectTypeOf(createPostgresStore({ url: "postgres://x" }).migrate).toEqualTypeOf<
      () => Promise<void>
    >();
    expectTypeOf(createSqliteStore({ path: "x.db" }).sweep).toEqualTypeOf<() => Promise<number>>();
    expectTypeOf(runDedupConformance).parameter(1).toEqualTypeOf<() => Promise<DedupStore>>();
  });

  it("types the error code as a closed union", () => {
    expectTypeOf<DedupError["code"]>().toEqualTypeOf<DedupErrorCode>();
    // @ts-expect-error not a code
    new DedupError("oops", "message");
  });
});
