import {
  createUlidFactory,
  deriveEventIds,
  EVENT_SOURCES,
  type EventSource,
  formatIssues,
  LIMITS,
  type Limits,
  type NormalizedEvent,
  parseEventIdSeed,
  parseEvents,
} from "@evt/schema";
import { decodeBody } from "./body.js";
import { isRetryable, ServerError } from "./errors.js";
import { ingest } from "./ingest.js";
import {
  compileEventKeys,
  envRefusal,
  type KeyScope,
  nameRefusal,
  namespacedSeed,
  UNSCOPED,
} from "./key-scopes.js";
import { bearerToken, KeyMatcher } from "./keys.js";
import {
  BadQuery,
  DEFAULT_MAX_CONCURRENT_READS,
  DEFAULT_MAX_PAGE_BYTES,
  getEvent,
  listEnvs,
  listEvents,
  ReadSlots,
  ReadsBusy,
} from "./reads.js";
import { corsHeaders, json, PREFLIGHT_HEADERS, REJECT_STATUS, sendResponse } from "./responses.js";
import { matchRoute, splitUrl } from "./routes.js";
import type {
  ApiRequest,
  ApiRequestHead,
  ApiResponse,
  ApiTextResponse,
  EventApi,
  EventApiLogger,
  EventApiOptions,
  EventOrigin,
  RejectReason,
  RouteName,
} from "./types.js";
import { DEFAULT_ENV, ENV_ALLOWED, envProblem, parseIntParam, quote } from "./validate.js";
import { createWriteHealth } from "./write-health.js";

const DAY_MS = 86_400_000;
const DEFAULT_MAX_EVENT_DELAY_MS = 365 * DAY_MS;
const DEFAULT_MAX_REQUEST_BYTES = 512 * 1024;
const READY_TIMEOUT_MS = 5_000;
/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER = "1";
/** What `POST /e/` stores as the events' origin unless `originOf` says otherwise. */
const API_ORIGIN: EventOrigin = Object.freeze({ source: "api", sourceId: null });

const NOT_FOUND =
  "Not found (routes: POST /e/:eventKey, GET /v1/events, GET /v1/events/:internalId, GET /v1/envs, GET /health, GET /ready)";

const silent: EventApiLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** `365 days`, `10 s`: a span for a message. */
function span(ms: number): string {
  return ms >= DAY_MS && ms % DAY_MS === 0 ? `${ms / DAY_MS} days` : `${ms / 1000} s`;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ServerError(
      "invalid_options",
      `options.${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

function keyList(name: string, value: readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((k) => typeof k !== "string" || k.length === 0)) {
    throw new ServerError(
      "invalid_options",
      `options.${name} must be an array of non-empty strings (an empty array means development mode)`,
    );
  }
  return value;
}

function checkOptions(options: EventApiOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new ServerError(
      "invalid_options",
      "createEventApi needs an options object with dedup and store",
    );
  }
  const d = options.dedup as unknown as Record<string, unknown> | undefined;
  if (!d || typeof d.claim !== "function" || typeof d.release !== "function") {
    throw new ServerError(
      "invalid_options",
      "options.dedup must be a DedupStore from @evt/dedup (e.g. createMemoryStore())",
    );
  }
  const s = options.store as unknown as Record<string, unknown> | undefined;
  if (!s || typeof s.append !== "function" || typeof s.has !== "function") {
    throw new ServerError(
      "invalid_options",
      "options.store must be an EventStore from @evt/store (e.g. createMemoryEventStore())",
    );
  }
  if (options.ingest !== undefined && typeof options.ingest !== "function") {
    throw new ServerError(
      "invalid_options",
      `options.ingest must be a function like ingest from @evt/server, got ${typeof options.ingest}`,
    );
  }
  const cors = options.cors;
  if (
    cors !== undefined &&
    typeof cors !== "boolean" &&
    (typeof cors !== "object" || cors === null || typeof cors.origin !== "string" || !cors.origin)
  ) {
    throw new ServerError(
      "invalid_options",
      "options.cors must be true, false or { origin: string }",
    );
  }
}

/**
 * Build the Event API: an Inngest-compatible `POST /e/:eventKey` plus a small read API, as one
 * transport-free `handle(request) -> response` function. Mount it with `@evt/server/node`
 * (`listen`, `createNodeHandler`) or `@evt/server/fetch` (`createFetchHandler`).
 *
 * @example
 * ```ts
 * import { createMemoryStore } from "@evt/dedup";
 * import { createMemoryEventStore } from "@evt/store";
 * import { createEventApi } from "@evt/server";
 *
 * const api = createEventApi({ dedup: createMemoryStore(), store: createMemoryEventStore() });
 * const res = await api.handle({
 *   method: "POST",
 *   url: "/e/dev-key",
 *   headers: {},
 *   body: new TextEncoder().encode('{"name":"user.signup","data":{"userId":"u1"}}'),
 * });
 * console.log(res.status, res.body); // 200 {"ids":["01J..."],"status":200}
 * ```
 */
export function createEventApi(options: EventApiOptions): EventApi {
  checkOptions(options);
  const { dedup, store, hooks } = options;
  const scopedKeys = compileEventKeys(options.eventKeys);
  const eventKeys = new KeyMatcher(scopedKeys.keys);
  const keyScopes = scopedKeys.scopes;
  const apiKeys = new KeyMatcher(keyList("apiKeys", options.apiKeys));
  const windowMs = positiveInt("dedupWindowMs", options.dedupWindowMs, DAY_MS);
  const maxRequestBytes = positiveInt(
    "maxRequestBytes",
    options.maxRequestBytes,
    DEFAULT_MAX_REQUEST_BYTES,
  );
  const limits: Limits = { ...LIMITS, ...options.limits };
  // Only overrides go to parseEvents: without any it takes its precomputed defaults.
  const parseOptions: Parameters<typeof parseEvents>[1] & { receivedAt: number } = {
    receivedAt: 0,
  };
  if (options.limits !== undefined) parseOptions.limits = options.limits;
  if (options.catalog !== undefined) parseOptions.catalog = options.catalog;
  const cors = corsHeaders(options.cors ?? true);
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silent;
  const nextUlid = createUlidFactory();
  const deps = { dedup, store, windowMs, hooks };
  const runIngest = options.ingest ?? ingest;
  const maxEventDelayMs = positiveInt(
    "maxEventDelayMs",
    options.maxEventDelayMs,
    DEFAULT_MAX_EVENT_DELAY_MS,
  );
  const originOf = options.originOf;
  if (originOf !== undefined && typeof originOf !== "function") {
    throw new ServerError(
      "invalid_options",
      "originOf must be a function (request) => { source, sourceId } (or a promise of it)",
    );
  }
  const dispatchRuns = options.dispatch;
  if (dispatchRuns !== undefined && typeof dispatchRuns !== "function") {
    throw new ServerError(
      "invalid_options",
      "dispatch must be a function (batch) => Promise<void>, called before each answer",
    );
  }
  const writes = createWriteHealth(now);
  const reads = new ReadSlots(
    positiveInt("maxConcurrentReads", options.maxConcurrentReads, DEFAULT_MAX_CONCURRENT_READS),
    positiveInt("maxPageBytes", options.maxPageBytes, DEFAULT_MAX_PAGE_BYTES),
  );

  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | null = null;
  let closed: Promise<void> | null = null;

  function reject(
    reason: RejectReason,
    message: string,
    headers?: Record<string, string>,
  ): ApiTextResponse {
    hooks?.onRejected?.({ reason });
    return sendResponse(REJECT_STATUS[reason], [], message, headers);
  }

  /** Error responses on `/e/*` carry the CORS headers so browsers can read them. */
  function rejectEvents(
    reason: RejectReason,
    message: string,
    extra?: Record<string, string>,
  ): ApiTextResponse {
    return reject(reason, message, cors || extra ? { ...cors, ...extra } : undefined);
  }

  function unavailable(): ApiResponse {
    return reject("unavailable", "The server is shutting down; retry the request", {
      "retry-after": RETRY_AFTER,
      ...cors,
    });
  }

  /**
   * The checks that need only the URL key and the headers: the key (401), the env header (400)
   * and the key's environments (403). Returns the key's scope and the environment, or the
   * refusal. Kept apart from the body so that an adapter can answer before reading it.
   */
  function admit(
    key: string,
    headers: ApiRequest["headers"],
  ): { scope: KeyScope; env: string } | ApiResponse {
    let scope: KeyScope = UNSCOPED;
    if (!eventKeys.open) {
      const at = eventKeys.find(key);
      if (at < 0) return rejectEvents("unauthorized", "Event key not found");
      scope = keyScopes[at]!;
    }
    const envHeader = headers["x-inngest-env"] ?? headers["x-evt-env"];
    let env = DEFAULT_ENV;
    if (envHeader !== undefined) {
      const problem = envProblem(envHeader);
      if (problem !== null) {
        const name = headers["x-inngest-env"] !== undefined ? "x-inngest-env" : "x-evt-env";
        return rejectEvents(
          "invalid_request",
          `Header ${name} ${quote(envHeader)} ${problem} (allowed: ${ENV_ALLOWED})`,
        );
      }
      env = envHeader;
    }
    const envDenied = envRefusal(scope, env);
    if (envDenied !== null) return rejectEvents("forbidden", envDenied);
    return { scope, env };
  }

  async function postEvents(
    req: ApiRequest,
    key: string,
    requestId?: string,
  ): Promise<ApiResponse> {
    if (closing) return unavailable();
    const admitted = admit(key, req.headers);
    if ("status" in admitted) return admitted;
    const { scope, env } = admitted;
    const declared = req.headers["content-length"];
    if (declared !== undefined) {
      const len = parseIntParam(declared);
      if (len !== null && len > maxRequestBytes) return tooLarge(len);
    }
    const body = req.body;
    if (body !== null && body.length > maxRequestBytes) return tooLarge(null);
    const decoded = decodeBody(body);
    if (!decoded.ok) return rejectEvents("invalid_json", decoded.message);
    const value = decoded.value;
    if (Array.isArray(value) && value.length > limits.maxEventsPerRequest) {
      return rejectEvents(
        "too_many_events",
        `Request has ${value.length} events (allowed: at most ${limits.maxEventsPerRequest} events per request; split the batch)`,
      );
    }
    const receivedAt = now();
    parseOptions.receivedAt = receivedAt;
    const parsed = parseEvents(value, parseOptions);
    if (!parsed.ok) return rejectEvents("invalid_event", formatIssues(parsed.issues));
    const events = parsed.events;
    const nameDenied = nameRefusal(scope, events);
    if (nameDenied !== null) return rejectEvents("forbidden", nameDenied);
    const latest = receivedAt + maxEventDelayMs;
    for (let i = 0; i < events.length; i++) {
      const ts = events[i]!.ts;
      if (ts <= latest) continue;
      return rejectEvents(
        "invalid_event",
        `events[${i}].ts: ${new Date(ts).toISOString()} is more than ${span(maxEventDelayMs)} ahead of the server's clock (${new Date(receivedAt).toISOString()}); a future ts delays the event's runs until then (allowed: at most ${new Date(latest).toISOString()})`,
      );
    }
    const n = events.length;
    if (n === 0) {
      hooks?.onEvents?.({ accepted: 0, duplicates: 0, env, events: [], ids: [] });
      return sendResponse(200, [], undefined, cors ?? undefined);
    }
    const seed = parseEventIdSeed(req.headers["x-inngest-event-id-seed"]);
    let ids: string[];
    if (seed !== null) {
      const ns = scope.dedupNamespace;
      ids = deriveEventIds(ns === null ? seed : namespacedSeed(seed, ns), n);
    } else {
      ids = new Array(n);
      for (let i = 0; i < n; i++) ids[i] = nextUlid();
    }
    let origin = API_ORIGIN;
    if (originOf !== undefined) {
      const given = originOf(req);
      origin = given instanceof Promise ? await given : given;
    }
    const result = await runIngest(deps, events, ids, env, receivedAt, origin, scope.dedupPrefix);
    if (result.ok) {
      writes.succeeded();
      if (dispatchRuns !== undefined) {
        try {
          await dispatchRuns({ env, events: result.stored });
        } catch (error) {
          logger.warn(
            { requestId, env, events: n, err: error },
            "events stored, but queuing the functions they trigger failed: answered 503",
          );
          return rejectEvents(
            "unavailable",
            "The events are stored but the functions they trigger could not be queued (run store unavailable); retry the request: it is deduplicated, and the retry queues them",
            { "retry-after": RETRY_AFTER },
          );
        }
      }
      hooks?.onEvents?.({
        accepted: result.accepted,
        duplicates: result.duplicates,
        env,
        events,
        ids: result.ids,
      });
      return sendResponse(200, result.ids, undefined, cors ?? undefined);
    }
    writes.failed(result.error);
    const retryable = isRetryable(result.error);
    const log = {
      requestId,
      env,
      events: n,
      stage: result.stage,
      err: result.error,
      releaseErr: result.releaseError,
      dedup: dedup.driver,
      store: store.driver,
    };
    if (retryable) {
      logger.warn(log, "event ingest failed: store unavailable, answered 503");
      return rejectEvents(
        "unavailable",
        `Event storage is temporarily unavailable (${result.stage === "claim" ? "dedup" : "event"} store); nothing was stored, retry the request`,
        { "retry-after": RETRY_AFTER },
      );
    }
    logger.error(log, "event ingest failed with an unexpected store error");
    return rejectEvents("internal", "Internal server error; nothing was stored");
  }

  function tooLarge(declared: number | null): ApiResponse {
    const size = declared === null ? "more than" : `${declared} bytes, more than`;
    return rejectEvents(
      "too_large",
      `Request body is too large: ${size} the limit (allowed: at most ${maxRequestBytes} bytes)`,
      { connection: "close" },
    );
  }

  async function readyResponse(head: boolean): Promise<ApiResponse> {
    if (closing) return unavailable();
    const [d, s] = await Promise.allSettled([withTimeout(dedup.ping()), withTimeout(store.ping())]);
    const down: string[] = [];
    if (d.status === "rejected") down.push(`dedup store (${dedup.driver})`);
    if (s.status === "rejected") down.push(`event store (${store.driver})`);
    const writeFailure = writes.failing();
    if (writeFailure !== null && down.length === 0) {
      logger.warn({ err: writeFailure.error }, "readiness check failed: the last write failed");
      return headless(
        reject(
          "unavailable",
          `Not ready: writes are failing since ${new Date(writeFailure.since).toISOString()} (the stores answer pings but the last write failed); ready again once a write succeeds`,
          { "retry-after": RETRY_AFTER },
        ),
        head,
      );
    }
    if (down.length === 0) return headless(json(200, { status: 200, message: "OK" }), head);
    logger.warn(
      {
        dedupErr: d.status === "rejected" ? d.reason : undefined,
        storeErr: s.status === "rejected" ? s.reason : undefined,
      },
      "readiness check failed",
    );
    return headless(
      reject("unavailable", `Not ready: ${down.join(" and ")} did not answer`, {
        "retry-after": RETRY_AFTER,
      }),
      head,
    );
  }

  function readAuth(req: ApiRequest): ApiResponse | null {
    if (apiKeys.open) return null;
    const token = bearerToken(req.headers.authorization);
    if (token === null) {
      return reject("unauthorized", "Missing API key (send Authorization: Bearer <api key>)", {
        "www-authenticate": "Bearer",
      });
    }
    if (!apiKeys.matches(token)) {
      return reject("unauthorized", "API key not found", { "www-authenticate": "Bearer" });
    }
    return null;
  }

  async function dispatch(
    req: ApiRequest,
    route: RouteName,
    param: string,
    query: string,
  ): Promise<ApiResponse> {
    const method = req.method;
    switch (route) {
      case "/e/:eventKey":
        if (method === "POST") return postEvents(req, param, req.requestId);
        if (method === "OPTIONS") {
          return {
            status: 204,
            headers: cors
              ? { ...cors, ...PREFLIGHT_HEADERS, allow: "POST, OPTIONS" }
              : { allow: "POST, OPTIONS" },
            body: "",
          };
        }
        return rejectEvents(
          "method_not_allowed",
          `Method ${method} is not allowed on /e/:eventKey (allowed: POST, OPTIONS)`,
          { allow: "POST, OPTIONS" },
        );
      case "/health":
        if (method === "GET" || method === "HEAD") {
          return headless(json(200, { status: 200, message: "OK" }), method === "HEAD");
        }
        return notAllowed(method, route, "GET, HEAD");
      case "/ready":
        if (method === "GET" || method === "HEAD") return readyResponse(method === "HEAD");
        return notAllowed(method, route, "GET, HEAD");
      case "/v1/envs": {
        if (method !== "GET") return notAllowed(method, route, "GET");
        const denied = readAuth(req);
        if (denied) return denied;
        // Every environment is listed: the x-inngest-env / x-evt-env header does not apply.
        const out = await listEnvs(store, query, reads);
        if (out instanceof BadQuery) return reject("invalid_request", out.message);
        if (out instanceof ReadsBusy) {
          return reject("too_many_reads", out.message, { "retry-after": RETRY_AFTER });
        }
        return json(200, out);
      }
      case "/v1/events":
      case "/v1/events/:internalId": {
        if (method !== "GET") return notAllowed(method, route, "GET");
        const denied = readAuth(req);
        if (denied) return denied;
        const inngestEnv = req.headers["x-inngest-env"];
        const evtEnv = req.headers["x-evt-env"];
        const env =
          inngestEnv !== undefined
            ? { name: "x-inngest-env", value: inngestEnv }
            : evtEnv !== undefined
              ? { name: "x-evt-env", value: evtEnv }
              : undefined;
        if (route === "/v1/events") {
          const page = await listEvents(store, query, env, reads);
          if (page instanceof BadQuery) return reject("invalid_request", page.message);
          if (page instanceof ReadsBusy) {
            return reject("too_many_reads", page.message, { "retry-after": RETRY_AFTER });
          }
          return page;
        }
        const out = await getEvent(store, param, query, env);
        if (out instanceof BadQuery) return reject("invalid_request", out.message);
        if (out === null) return reject("not_found", "Event not found in this environment");
        return json(200, out);
      }
      default:
        return reject("not_found", NOT_FOUND);
    }
  }

  function notAllowed(method: string, route: RouteName, allow: string): ApiResponse {
    return reject(
      "method_not_allowed",
      `Method ${method} is not allowed on ${route} (allowed: ${allow})`,
      { allow },
    );
  }

  /**
   * The answer to a request that its head alone decides: a POST to `/e/:key` with an unknown key
   * (401), a bad or forbidden environment (400, 403), a declared body over the limit (413), or
   * a closed API (503); a POST to a route that takes none (404, 405). `null`: read the body.
   */
  function screen(head: ApiRequestHead): ApiResponse | null {
    if (head.method !== "POST") return null;
    const match = matchRoute(splitUrl(head.url).path);
    let res: ApiResponse | null = null;
    if (match.route === "/e/:eventKey") {
      if (closing) res = unavailable();
      else {
        const admitted = admit(match.param, head.headers);
        if ("status" in admitted) res = admitted;
        else {
          const declared = head.headers["content-length"];
          const len = declared === undefined ? null : parseIntParam(declared);
          if (len !== null && len > maxRequestBytes) res = tooLarge(len);
        }
      }
    } else if (match.route === "unknown") {
      res = reject("not_found", NOT_FOUND);
    } else {
      const allow =
        match.route === "/v1/events" ||
        match.route === "/v1/events/:internalId" ||
        match.route === "/v1/envs"
          ? "GET"
          : "GET, HEAD";
      res = notAllowed("POST", match.route, allow);
    }
    if (res === null) return null;
    res.headers.connection = "close";
    if (head.requestId !== undefined) res.headers["x-request-id"] = head.requestId;
    hooks?.onRequest?.({ route: match.route, method: "POST", status: res.status, durationMs: 0 });
    return res;
  }

  async function handle(req: ApiRequest): Promise<ApiResponse> {
    const start = performance.now();
    inFlight++;
    let route: RouteName = "unknown";
    let res: ApiResponse;
    try {
      const { path, query } = splitUrl(req.url);
      const match = matchRoute(path);
      route = match.route;
      res = await dispatch(req, route, match.param, query);
    } catch (err) {
      if (isRetryable(err)) {
        logger.warn({ requestId: req.requestId, route, err }, "store unavailable, answered 503");
        res = reject("unavailable", "Storage is temporarily unavailable; retry the request", {
          "retry-after": RETRY_AFTER,
        });
      } else {
        logger.error(
          { requestId: req.requestId, route, err },
          "unexpected error while handling a request",
        );
        res = reject("internal", "Internal server error");
      }
    } finally {
      inFlight--;
      if (closing && inFlight === 0 && drained) drained();
    }
    if (req.requestId !== undefined) res.headers["x-request-id"] = req.requestId;
    hooks?.onRequest?.({
      route,
      method: req.method,
      status: res.status,
      durationMs: performance.now() - start,
    });
    return res;
  }

  async function send(
    value: readonly unknown[],
    sendOptions: { env?: string; source?: EventSource; sourceId?: string | null } = {},
  ): Promise<string[]> {
    const env = sendOptions.env ?? DEFAULT_ENV;
    const refuse = (status: number, message: string, cause?: unknown) =>
      new ServerError("rejected", `send: ${message}`, { status, cause });
    const source = sendOptions.source ?? "evt";
    if (!EVENT_SOURCES.includes(source))
      throw refuse(
        400,
        `options.source ${quote(String(source))} is not a known source (allowed: ${EVENT_SOURCES.join(", ")})`,
      );
    const sourceId = sendOptions.sourceId ?? null;
    if (sourceId !== null && (typeof sourceId !== "string" || sourceId.length > 256))
      throw refuse(400, "options.sourceId must be a string of at most 256 characters, or null");
    if (closing) throw refuse(503, "the server is shutting down; nothing was stored");
    const problem = envProblem(env);
    if (problem !== null)
      throw refuse(400, `env ${quote(env)} ${problem} (allowed: ${ENV_ALLOWED})`);
    const receivedAt = now();
    // The server's own events: reserved names (`inngest/...`) are what they are for, so only
    // the shape is checked, not the producer rules of POST /e/.
    const events: NormalizedEvent[] = [];
    for (const [i, e] of value.entries()) {
      const ev = e as {
        id?: unknown;
        name?: unknown;
        data?: unknown;
        ts?: unknown;
        user?: unknown;
      };
      if (typeof ev !== "object" || ev === null) throw refuse(400, `events[${i}] is not an object`);
      if (
        typeof ev.name !== "string" ||
        ev.name.length === 0 ||
        ev.name.length > limits.nameMaxLength
      )
        throw refuse(
          400,
          `events[${i}].name must be a string of 1..${limits.nameMaxLength} characters`,
        );
      if (ev.id !== undefined && ev.id !== null && typeof ev.id !== "string")
        throw refuse(400, `events[${i}].id must be a string`);
      const data = ev.data ?? {};
      if (typeof data !== "object" || data === null || Array.isArray(data))
        throw refuse(400, `events[${i}].data must be an object`);
      events.push({
        name: ev.name,
        data: data as Record<string, unknown>,
        user:
          typeof ev.user === "object" && ev.user !== null && !Array.isArray(ev.user)
            ? (ev.user as Record<string, unknown>)
            : null,
        id: typeof ev.id === "string" && ev.id !== "" ? ev.id : null,
        ts:
          typeof ev.ts === "number" && Number.isSafeInteger(ev.ts) && ev.ts >= 0
            ? ev.ts
            : receivedAt,
        v: null,
      });
    }
    if (events.length === 0) return [];
    const ids = events.map(() => nextUlid());
    const result = await runIngest(deps, events, ids, env, receivedAt, { source, sourceId }, null);
    if (!result.ok) {
      writes.failed(result.error);
      throw refuse(
        isRetryable(result.error) ? 503 : 500,
        "the events could not be stored",
        result.error,
      );
    }
    writes.succeeded();
    if (dispatchRuns !== undefined) await dispatchRuns({ env, events: result.stored });
    hooks?.onEvents?.({
      accepted: result.accepted,
      duplicates: result.duplicates,
      env,
      events,
      ids: result.ids,
    });
    return result.ids;
  }

  return {
    handle,
    screen,
    send,
    maxRequestBytes,
    reject(reason, message, method = "POST", url = "/") {
      const route = matchRoute(splitUrl(url).path).route;
      const res =
        route === "/e/:eventKey" ? rejectEvents(reason, message) : reject(reason, message);
      if (reason === "unavailable") res.headers["retry-after"] = RETRY_AFTER;
      hooks?.onRequest?.({ route, method, status: res.status, durationMs: 0 });
      return res;
    },
    async ready() {
      if (closing || writes.failing() !== null) return false;
      const results = await Promise.allSettled([
        withTimeout(dedup.ping()),
        withTimeout(store.ping()),
      ]);
      return results.every((r) => r.status === "fulfilled");
    },
    close() {
      if (closed) return closed;
      closing = true;
      closed =
        inFlight === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              drained = resolve;
            });
      return closed;
    },
  };
}

function headless(res: ApiResponse, head: boolean): ApiResponse {
  if (head) res.body = "";
  return res;
}

function withTimeout(p: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((_, rejectTimeout) => {
    timer = setTimeout(() => rejectTimeout(new Error("ping timed out")), READY_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
