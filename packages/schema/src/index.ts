export type {
  AnyEventCatalog,
  DataSchema,
  DefineEventsOptions,
  EventCatalog,
  EventDataOf,
  EventNames,
  EventSchemas,
  PayloadFor,
  PayloadWithData,
  TypedEventPayload,
} from "./catalog";
export { defineEvents } from "./catalog";
export type { EvtSchemaErrorCode, EvtSchemaErrorOptions } from "./errors";
export { EvtSchemaError } from "./errors";
export type { JsonNumberProblem } from "./json-numbers";
export { checkJsonNumbers } from "./json-numbers";
export { eventByteLength } from "./json-size";
export type { Limits } from "./limits";
export { LIMITS, RESERVED_NAME_PREFIXES } from "./limits";
export { formatIssues, parseEvent, parseEvents } from "./parse";
export type { EventPayloadSchema } from "./schema";
export { createEventPayloadSchema, eventPayloadJsonSchema, eventPayloadSchema } from "./schema";
export type { EventIdSeed } from "./seed";
export { createEventIdSeed, deriveEventIds, parseEventIdSeed } from "./seed";
export type {
  EventIssue,
  EventPayload,
  NormalizedEvent,
  ParseEventResult,
  ParseOptions,
  ParseResult,
} from "./types";
export { createUlidFactory } from "./ulid";
export type { EventSource, SendResponse, StoredEvent } from "./wire";
export { EVENT_SOURCES } from "./wire";
