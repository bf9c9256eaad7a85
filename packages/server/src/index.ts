export { createEventApi } from "./api.js";
export { ServerError, type ServerErrorCode } from "./errors.js";
export { createHostCheck, type HostCheck } from "./hosts.js";
export {
  type AppendPlan,
  adopt,
  claimEntries,
  type IngestDeps,
  type IngestResult,
  type IngestStage,
  ingest,
  ingested,
  planAppend,
  toStored as toStoredEvent,
} from "./ingest.js";
export type { EventKeyOptions } from "./key-scopes.js";
export { bearerToken, KeyMatcher } from "./keys.js";
export { PREFLIGHT_HEADERS, responseText } from "./responses.js";
export type {
  ApiBodyStream,
  ApiRequest,
  ApiRequestHead,
  ApiResponse,
  ApiTextResponse,
  CorsOption,
  DispatchBatch,
  EventApi,
  EventApiHooks,
  EventApiLogger,
  EventApiOptions,
  EventOrigin,
  RejectReason,
  RouteName,
} from "./types.js";
