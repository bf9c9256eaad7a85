import type { EventIssue } from "@evt/schema";

/**
 * What went wrong, as a stable string you can branch on.
 *
 * - `invalid_event`: an event failed validation; nothing was sent (`issues` has the details).
 * - `event_too_large`: one event alone exceeds `maxRequestBytes`; nothing was sent.
 * - `missing_event_key`: no event key and the base URL is not a local address.
 * - `invalid_options`: a client or batcher option is out of range.
 * - `network_error`: the request did not complete (connection refused, reset, DNS...).
 * - `timeout`: no complete answer within `timeoutMs`.
 * - `http_error`: the server answered with an error status (see `status`, `serverMessage`).
 * - `malformed_response`: the server answered 2xx but the body is not a valid success body
 *   (the events may or may not be stored; retrying with the same seed is safe).
 * - `closed`: `batcher.add()` after `close()`.
 * - `queue_full`: the batcher queue is full and `onFull` is `"reject"`.
 */
export type EventSendErrorCode =
  | "invalid_event"
  | "event_too_large"
  | "missing_event_key"
  | "invalid_options"
  | "network_error"
  | "timeout"
  | "http_error"
  | "malformed_response"
  | "closed"
  | "queue_full";

/** Fields of an {@link EventSendError} besides its message. */
export interface EventSendErrorDetails {
  /** HTTP status of the last answer, when there was one. */
  status?: number;
  /** Whether sending the same events again may succeed. */
  retryable?: boolean;
  /** The server's `error` field (or the start of a non-JSON body), when it answered. */
  serverMessage?: string;
  /** Number of HTTP attempts made for the failing request. */
  attempts?: number;
  /** Validation problems, for `invalid_event`. */
  issues?: EventIssue[];
  /**
   * For sends split into several requests: `acceptedIds[i]` is the id of input event `i` when
   * its request was accepted, `null` when it was not.
   */
  acceptedIds?: (string | null)[];
  /** For sends split into several requests: input indexes of the events that were not accepted. */
  failedIndexes?: number[];
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/client.EventSendError");

/**
 * The one error class of `@evt/client`. Every rejected `send()` / `add()` carries one.
 *
 * @example
 * ```ts
 * try {
 *   await evt.send(events);
 * } catch (err) {
 *   if (err instanceof EventSendError && err.failedIndexes) {
 *     await evt.send(err.failedIndexes.map((i) => events[i]!)); // resend only what failed
 *   }
 * }
 * ```
 */
export class EventSendError extends Error {
  override readonly name = "EventSendError";
  readonly code: EventSendErrorCode;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly serverMessage: string | undefined;
  readonly attempts: number | undefined;
  readonly issues: EventIssue[] | undefined;
  readonly acceptedIds: (string | null)[] | undefined;
  readonly failedIndexes: number[] | undefined;

  constructor(code: EventSendErrorCode, message: string, details: EventSendErrorDetails = {}) {
    super(
      `[evt/client] ${message}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.code = code;
    this.status = details.status;
    this.retryable = details.retryable ?? false;
    this.serverMessage = details.serverMessage;
    this.attempts = details.attempts;
    this.issues = details.issues;
    this.acceptedIds = details.acceptedIds;
    this.failedIndexes = details.failedIndexes;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof EventSendError` holds across copies of this class (the ESM and CJS builds each bundle
   * their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}
