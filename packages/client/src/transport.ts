import { createEventIdSeed } from "@evt/schema";
import { EventSendError, type EventSendErrorCode } from "./errors";
import type { ResolvedOptions } from "./options";
import { backoffDelay, parseRetryAfter, sleep } from "./retry";

/** HTTP statuses worth retrying: the server may succeed later. 400/401/403/404/413/422 never. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

interface Failure {
  code: EventSendErrorCode;
  message: string;
  retryable: boolean;
  status?: number;
  serverMessage?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

type Outcome = { ok: true; ids: string[] } | { ok: false; failure: Failure };

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat;
}

/**
 * Decides an answer the way the wire format defines success: a JSON body with `status: 200`,
 * `ids` an array of `count` strings, and no `error`. A 2xx answer that is not such a body is a
 * retryable `malformed_response` (the events may be stored; the seed makes a retry safe).
 */
export function classifyResponse(
  status: number,
  retryAfter: string | null,
  text: string,
  count: number,
): Outcome {
  let body: unknown;
  let isJson = true;
  try {
    body = JSON.parse(text);
  } catch {
    isJson = false;
  }
  const obj =
    isJson && typeof body === "object" && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : undefined;
  const serverError =
    obj && typeof obj.error === "string" && obj.error !== "" ? obj.error : undefined;
  const serverMessage = serverError ?? (obj ? undefined : snippet(text) || undefined);

  if (status >= 200 && status < 300) {
    let problem: string | undefined;
    if (!obj) problem = isJson ? "the body is not a JSON object" : "the body is not JSON";
    else if (serverError !== undefined) problem = `the body has an error: ${serverError}`;
    else if (obj.status !== 200)
      problem = `body.status is ${JSON.stringify(obj.status)}, expected 200`;
    else if (!Array.isArray(obj.ids)) problem = "body.ids is not an array";
    else if (obj.ids.length !== count)
      problem = `body.ids has ${obj.ids.length} ids for ${count} events`;
    else if (!obj.ids.every((id) => typeof id === "string")) problem = "body.ids holds non-strings";
    if (problem === undefined) return { ok: true, ids: obj!.ids as string[] };
    return {
      ok: false,
      failure: {
        code: "malformed_response",
        message: `HTTP ${status} without a valid success body (${problem}${serverMessage && !serverError ? `: ${serverMessage}` : ""}); the events may or may not be stored`,
        retryable: true,
        status,
        ...(serverMessage === undefined ? {} : { serverMessage }),
      },
    };
  }
  const retryable = isRetryableStatus(status);
  const retryAfterMs = parseRetryAfter(retryAfter);
  return {
    ok: false,
    failure: {
      code: "http_error",
      message: `HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}`,
      retryable,
      status,
      ...(serverMessage === undefined ? {} : { serverMessage }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    },
  };
}

async function attempt(
  opts: ResolvedOptions,
  headers: Record<string, string>,
  body: string,
  count: number,
): Promise<Outcome> {
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Races the request so a fetch that ignores the signal still times out.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      const reason = new Error(`no complete answer within ${opts.timeoutMs} ms`);
      controller.abort(reason);
      reject(reason);
    }, opts.timeoutMs);
  });
  const fetchImpl = opts.fetch;
  try {
    const res = await Promise.race([
      fetchImpl(opts.url, { method: "POST", headers, body, signal: controller.signal }),
      deadline,
    ]);
    const text = await Promise.race([res.text(), deadline]);
    return classifyResponse(res.status, res.headers.get("retry-after"), text, count);
  } catch (cause) {
    if (timedOut) {
      return {
        ok: false,
        failure: {
          code: "timeout",
          message: `no complete answer within timeoutMs=${opts.timeoutMs}`,
          retryable: true,
          cause,
        },
      };
    }
    const detail = describeNetworkError(cause);
    return {
      ok: false,
      failure: {
        code: "network_error",
        message: `network error: ${detail}`,
        retryable: true,
        cause,
      },
    };
  } finally {
    clearTimeout(timer);
    deadline.catch(() => {});
  }
}

/** fetch's own message is often just "fetch failed": add the reason underneath (ECONNREFUSED...). */
function describeNetworkError(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = (cause as { cause?: unknown }).cause;
  if (inner instanceof Error) {
    const code = (inner as { code?: unknown }).code;
    return `${cause.message} (${typeof code === "string" ? `${code}: ` : ""}${inner.message})`;
  }
  return cause.message;
}

/** Where the request went, without the event key. */
function target(opts: ResolvedOptions): string {
  return `POST ${opts.url.replace(/\/e\/[^/]*$/, "/e/<key>")}`;
}

/**
 * Posts one request body of `count` events, retrying network errors, timeouts, 5xx, 429 and
 * malformed success bodies with backoff (or the server's `Retry-After`). One
 * `x-inngest-event-id-seed` is used for every attempt, so a retry of a request that did arrive
 * gets the same ids and stores nothing twice. Resolves with the ids; throws `EventSendError`.
 */
export async function postEvents(
  opts: ResolvedOptions,
  body: string,
  count: number,
): Promise<string[]> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-inngest-event-id-seed": createEventIdSeed(),
  };
  if (opts.env !== undefined) headers["x-inngest-env"] = opts.env;
  for (let n = 1; ; n++) {
    const outcome = await attempt(opts, headers, body, count);
    if (outcome.ok) return outcome.ids;
    const f = outcome.failure;
    if (!f.retryable || n >= opts.maxAttempts) {
      const why = f.retryable
        ? `gave up after ${n} attempt(s)`
        : `not retried: HTTP ${f.status} cannot succeed by sending the same request again`;
      throw new EventSendError(f.code, `${target(opts)} failed: ${f.message} (${why})`, {
        retryable: f.retryable,
        attempts: n,
        ...(f.status === undefined ? {} : { status: f.status }),
        ...(f.serverMessage === undefined ? {} : { serverMessage: f.serverMessage }),
        ...(f.cause === undefined ? {} : { cause: f.cause }),
      });
    }
    const delay =
      f.retryAfterMs !== undefined
        ? Math.min(f.retryAfterMs, opts.maxRetryAfterMs)
        : backoffDelay(n, opts.baseDelayMs, opts.maxDelayMs);
    opts.logger.debug?.(`[evt/client] attempt ${n} failed, retrying in ${delay} ms`, {
      code: f.code,
      status: f.status,
      error: f.message,
      events: count,
    });
    await sleep(delay);
  }
}
