export { BODY_TYPES, type ParsedBody, parseBody, parseQuery } from "./body";
export {
  WebhooksError,
  type WebhooksErrorCode,
  type WebhooksErrorOptions,
  type WebhooksIssue,
} from "./errors";
export {
  type HandleWebhookOptions,
  handleWebhook,
  type WebhookEvent,
  type WebhookOutcome,
  type WebhookRequest,
} from "./handle";
export {
  applyPatch,
  DEFAULT_OVERLAP_SECONDS,
  DEFAULT_TOLERANCE_SECONDS,
  isWebhookIdShape,
  nameAllowed,
  newWebhookId,
  sourceView,
  type ValidateSourceOptions,
  validateSource,
  type WebhookSourceInput,
  type WebhookSourcePatch,
  webhookRef,
} from "./source";
export type { WebhookStore } from "./store";
export {
  type CompiledTransform,
  compileTransform,
  DEFAULT_EVENT_NAME,
  type TransformFailure,
  type TransformInput,
  type TransformResult,
} from "./transform";
export type {
  StoredSecret,
  TransformSpec,
  VerifyConfig,
  VerifyScheme,
  WebhookSource,
  WebhookSourceView,
} from "./types";
export { type Headers, type VerifyResult, verifyRequest } from "./verify/index";
