import {
  type AnyEventCatalog,
  defineEvents,
  type EventDataOf,
  type EventNames,
  type EventPayload,
  parseEvents,
  type TypedEventPayload,
} from "@evt/schema";
import { describe, expectTypeOf, it } from "vitest";
import * as z from "zod";

const events = defineEvents({
  "app/user.signup": z.object({ userId: z.string() }),
  "app/ping": z.object({}),
  "app/maybe": z.object({ note: z.string().optional() }),
});
type Catalog = typeof events;

/** A stand-in for the client's `send`: typed by the catalog it was given. */
function send<C extends AnyEventCatalog>(
  _catalog: C,
  _payload: TypedEventPayload<C> | TypedEventPayload<C>[],
) {}

describe("catalog types", () => {
  it("knows the names", () => {
    expectTypeOf<EventNames<Catalog>>().toEqualTypeOf<
      "app/user.signup" | "app/ping" | "app/maybe"
    >();
  });

  it("knows each event's data", () => {
    expectTypeOf<EventDataOf<Catalog, "app/user.signup">>().toEqualTypeOf<{ userId: string }>();
    expectTypeOf<EventDataOf<Catalog, "app/maybe">>().toEqualTypeOf<{
      note?: string | undefined;
    }>();
  });

  it("accepts correct payloads", () => {
    send(events, { name: "app/user.signup", data: { userId: "u1" }, id: "dedup", ts: 1 });
    send(events, [
      { name: "app/ping" },
      { name: "app/maybe" },
      { name: "app/maybe", data: { note: "x" } },
    ]);
    expectTypeOf<{ name: "app/ping" }>().toExtend<TypedEventPayload<Catalog>>();
  });

  it("rejects unknown names", () => {
    // @ts-expect-error "app/nope" is not in the catalog
    send(events, { name: "app/nope", data: {} });
    expectTypeOf<{ name: "app/nope" }>().not.toExtend<TypedEventPayload<Catalog>>();
  });

  it("rejects wrong or missing data", () => {
    // @ts-expect-error userId must be a string
    send(events, { name: "app/user.signup", data: { userId: 42 } });
    // @ts-expect-error data is required when the schema has required keys
    send(events, { name: "app/user.signup" });
    // @ts-expect-error data of another event
    send(events, { name: "app/user.signup", data: { note: "x" } });
    expectTypeOf<{ name: "app/user.signup"; data: { userId: number } }>().not.toExtend<
      TypedEventPayload<Catalog>
    >();
  });

  it("is an EventPayload and can be passed to parseEvents", () => {
    expectTypeOf<TypedEventPayload<Catalog>>().toExtend<EventPayload>();
    parseEvents([], { catalog: events });
  });
});
