import type { EventStore, PostgresEventStore, SqliteEventStore, StoreErrorCode } from "@evt/store";
import { createMemoryEventStore } from "@evt/store/memory";
import { createPostgresStore } from "@evt/store/postgres";
import { createSqliteStore } from "@evt/store/sqlite";
import Database from "better-sqlite3";
import pg from "pg";
import { describe, expectTypeOf, it } from "vitest";

describe("store types", () => {
  it("accepts a real pg Pool and better-sqlite3 Database without casts", () => {
    expectTypeOf(createPostgresStore({ pool: new pg.Pool() })).toEqualTypeOf<PostgresEventStore>();
    expectTypeOf(
      createSqliteStore({ database: new Database(":memory:") }),
    ).toEqualTypeOf<SqliteEventStore>();
  });

  it("exposes the error codes as a closed union", () => {
    expectTypeOf<StoreErrorCode>().toEqualTypeOf<
      | "unavailable"
      | "invalid_cursor"
      | "invalid_input"
      | "closed"
      | "missing_dependency"
      | "failed"
    >();
    expectTypeOf(createMemoryEventStore()).toMatchTypeOf<EventStore>();
  });
});
