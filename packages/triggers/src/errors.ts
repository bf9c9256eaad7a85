/** What kind of problem a {@link TriggerError} reports. */
export type TriggerErrorCode =
  /** A function definition (id, triggers, expression, cron, jitter) is not valid; see `issues`. */
  | "invalid_definition"
  /** An event name pattern passed to {@link compileEventPattern} is not valid. */
  | "invalid_pattern"
  /** A cron string passed to `nextTicks` (or a jitter to `cronJitterMs`) is not valid. */
  | "invalid_cron"
  /** Any other argument of a public function is not what it accepts (e.g. `count` of `nextTicks`). */
  | "invalid_argument";

/** One problem found in the input: where it is and what is wrong there. */
export interface TriggerIssue {
  /** Where, like `functions[3].triggers[1].expression` (`pattern`, `cron` for single-value calls). */
  path: string;
  /** What is wrong and what is allowed. */
  message: string;
}

/** Options of {@link TriggerError}. */
export interface TriggerErrorOptions {
  /** Every problem found; the message lists them too. */
  issues?: TriggerIssue[];
  /** The underlying error (e.g. the CEL parser's), kept for debugging. */
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/triggers.TriggerError");

/**
 * The one error class of `@evt/triggers`. Thrown for invalid definitions (with every problem in
 * `issues`) and invalid arguments; never thrown while matching an event.
 *
 * @example
 * ```ts
 * import { createTriggerIndex, TriggerError } from "@evt/triggers";
 * try {
 *   createTriggerIndex([{ id: "f", triggers: [{ event: "app/*", expression: "event.data.x ==" }] }]);
 * } catch (err) {
 *   if (err instanceof TriggerError) err.issues; // [{ path: "functions[0].triggers[0].expression", message: "..." }]
 * }
 * ```
 */
export class TriggerError extends Error {
  override readonly name = "TriggerError";
  readonly code: TriggerErrorCode;
  readonly issues: TriggerIssue[];

  constructor(code: TriggerErrorCode, message: string, options: TriggerErrorOptions = {}) {
    super(
      message.startsWith("[evt/triggers]") ? message : `[evt/triggers] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.issues = options.issues ?? [];
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof TriggerError` holds across copies of this class (the ESM and CJS builds each
   * bundle their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/** Builds the error for a list of issues, listing them all in the message. */
export function issuesError(code: TriggerErrorCode, what: string, issues: TriggerIssue[]) {
  const list = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  const head =
    issues.length === 1 ? `1 problem in ${what}` : `${issues.length} problems in ${what}`;
  return new TriggerError(code, `${head}: ${list}`, { issues });
}
