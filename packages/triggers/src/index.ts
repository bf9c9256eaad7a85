export {
  cronJitterMs,
  MAX_CRON_LENGTH,
  MAX_JITTER_MS,
  MIN_JITTER_MS,
  nextTicks,
  type ParsedCron,
  parseCron,
  parseJitter,
} from "./cron";
export {
  type CronTrigger,
  type EventTrigger,
  type FunctionDefinition,
  MAX_FUNCTION_ID_LENGTH,
  MAX_TRIGGERS,
  type TriggerDefinition,
} from "./definitions";
export {
  TriggerError,
  type TriggerErrorCode,
  type TriggerErrorOptions,
  type TriggerIssue,
} from "./errors";
export {
  compileFilter,
  compileKey,
  compileValue,
  type ExpressionFilter,
  type KeyExpression,
  type ValueExpression,
} from "./filter";
export {
  compileEventPattern,
  type EventPattern,
  MAX_EVENT_NAME_LENGTH,
  matchesEventName,
  WILDCARD_RULE,
} from "./pattern";
export { createTriggerIndex, type TriggerIndex } from "./trigger-index";
export type {
  CronEntry,
  EvaluationErrorInfo,
  TriggerEvent,
  TriggerIndexOptions,
  TriggerIndexStats,
  TriggerMatch,
} from "./types";
export {
  interpolateWaitExpression,
  MAX_WAIT_EXPRESSION_LENGTH,
  waitMatchExpression,
} from "./wait";
