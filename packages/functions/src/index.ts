export { createMemoryRunStore, type MemoryRunStoreOptions } from "./drivers/memory";
export {
  FunctionsError,
  type FunctionsErrorCode,
  type FunctionsErrorOptions,
  isFunctionsError,
} from "./errors";
export type * from "./run-store";
export {
  MAX_CLAIM_LIMIT,
  MAX_ID_LENGTH,
  MAX_STEPS_PER_CALL,
  MAX_URL_LENGTH,
  MAX_VALUE_BYTES,
} from "./validate";

/** Name of this package. */
export const PACKAGE_NAME = "@evt/functions";
export {
  DEFAULT_RETRIES,
  handleRegister,
  MAX_REGISTER_FUNCTIONS,
  MAX_RETRIES,
  parseRegisterBody,
  type RegisterAnswer,
  type RegisteredFunction,
  type RegisterIssue,
  type RegisterParseResult,
  type Registration,
  registerAnswer,
  storeRegistration,
} from "./register";
export {
  checkRegisterAuth,
  hashSigningKey,
  parseSigningKey,
  type SigningKey,
  signRequest,
} from "./signing";
