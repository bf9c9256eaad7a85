import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { DedupStore } from "@evt/dedup";
import {
  type AppSyncer,
  checkRegisterAuth,
  createAppSyncer,
  createCanceller,
  createCronScheduler,
  createDispatcher,
  createExecutor,
  createWaitMatcher,
  DEFAULT_RETRY_POLICY,
  DEV_RETRY_POLICY,
  type Dispatcher,
  type Executor,
  type ExecutorHooks,
  functionView,
  handleRegister,
  isFunctionsError,
  type JsonValue,
  type RunRecord,
  type RunStore,
  runDetailView,
  runView,
  sdkEvent,
  signRequest,
  unsupportedFeatures,
} from "@evt/functions";
import { createMemoryRunStore } from "@evt/functions/memory";
import { createPostgresRunStore } from "@evt/functions/postgres";
import { createSqliteRunStore } from "@evt/functions/sqlite";
import { bearerToken, type DispatchBatch, type EventApi, KeyMatcher } from "@evt/server";
import type { EventStore } from "@evt/store";
import { nextTicks } from "@evt/triggers";
import type { Logger } from "pino";
import { driverName, type GatewayConfig, sqliteInWorker } from "./config";
import { prepareDataDir } from "./data-dir";
import { sendJson } from "./http";
import { SPLIT_FILES, SQLITE_FILE, sqliteLayout } from "./sqlite-file";
import { openSqliteThread } from "./sqlite-thread";
import { VERSION } from "./version";

/** File name of the SQLite run store inside a data folder of the earlier layout (a file per store). */
export const RUNS_FILE = SPLIT_FILES.runs;

/** How long a function's idempotency key keeps further events from starting it (Inngest: 24 h). */
const IDEMPOTENCY_WINDOW_MS = 86_400_000;

/** Largest `/fn/register` body: 1,000 functions with their config. */
const MAX_REGISTER_BYTES = 16 * 1024 * 1024;
/** Time allowed for the body of a `/fn/register` request. */
const REGISTER_BODY_TIMEOUT_MS = 10_000;

/**
 * Opens the run store `config.runs` names (for sqlite: `evt.sqlite` in the data folder, or
 * `runs.sqlite` in a folder of the earlier layout). The gateway opens it with the other stores
 * when they share the file (`openStores`); this opens it alone.
 */
export function openRunStore(config: GatewayConfig): RunStore {
  switch (driverName(config.runs)) {
    case "memory":
      return createMemoryRunStore();
    case "sqlite": {
      const file = sqliteLayout(config.dataDir) === "one" ? SQLITE_FILE : RUNS_FILE;
      prepareDataDir(config.dataDir, [file]);
      // Like the event files: in a worker thread when there is a CPU for it.
      if (sqliteInWorker(config)) {
        return openSqliteThread({
          dedupPath: null,
          storePath: null,
          runsPath: join(config.dataDir, file),
          callTimeoutMs: config.sqliteTimeoutMs,
        }).runs!;
      }
      return createSqliteRunStore({ path: join(config.dataDir, file) });
    }
    default:
      return createPostgresRunStore({
        connectionString: config.runs,
        ...(config.pgTablePrefix ? { tablePrefix: config.pgTablePrefix } : {}),
      });
  }
}

/** The functions half of a gateway: dispatch on ingest, the executor, app syncs and routes. */
export interface GatewayFunctions {
  readonly runs: RunStore;
  readonly dispatcher: Dispatcher;
  readonly executor: Executor;
  readonly syncer: AppSyncer;
  /**
   * For `createEventApi({ dispatch })`: creates the runs of stored events before the answer.
   * Resolves with the runs it created.
   */
  dispatch(batch: DispatchBatch): Promise<RunRecord[]>;
  /** Serve the functions routes; `false` when the request is not one of them. */
  route(req: IncomingMessage, res: ServerResponse, route: string): boolean;
  /** Start the executor and the app syncs (once the gateway listens). */
  start(api: EventApi): void;
  /** Stop syncing and claiming; let calls in flight finish for up to `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

export interface GatewayFunctionsOptions {
  config: GatewayConfig;
  runs: RunStore;
  store: EventStore;
  logger: Logger;
  hooks: ExecutorHooks & {
    onRunCancelled?(functionId: string, run: RunRecord): void;
    onRunSkipped?(functionId: string, reason: string): void;
  };
  /** The dedup store (idempotency keys are claimed in it, shared by the gateways). */
  dedup: DedupStore;
  /** The gateway's own URL, for logs. */
}

/** The next ticks of a function's cron triggers, in UTC ISO (the console shows them). */
function scheduleOf(config: JsonValue, now: Date): { cron: string; next: string[] }[] {
  const triggers =
    typeof config === "object" && config !== null && !Array.isArray(config)
      ? config.triggers
      : null;
  if (!Array.isArray(triggers)) return [];
  const out: { cron: string; next: string[] }[] = [];
  for (const t of triggers) {
    if (typeof t !== "object" || t === null || Array.isArray(t) || typeof t.cron !== "string")
      continue;
    try {
      out.push({ cron: t.cron, next: nextTicks(t.cron, now, 3).map((d) => d.toISOString()) });
    } catch {
      // Registration checked it; a schedule this version cannot read lists no ticks.
      out.push({ cron: t.cron, next: [] });
    }
  }
  return out;
}

function readBody(req: IncomingMessage, limit: number): Promise<string | "too_large" | "timeout"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: string | "too_large" | "timeout") => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => finish("timeout"), REGISTER_BODY_TIMEOUT_MS);
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        finish("too_large");
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => finish(Buffer.concat(chunks).toString("utf8")));
    req.on("error", () => finish("timeout"));
  });
}

/** What the log says when a key expression fails on an event, by kind. */
const KEY_ERROR = {
  idempotency: "an idempotency key expression failed on an event; the run goes ahead without a key",
  concurrency:
    "a concurrency key expression failed on an event; the run is held to the function-level limit",
  priority: "a priority.run expression failed on an event; the run gets priority 0",
  rateLimit:
    "a rateLimit key expression failed on an event; the run counts against the function-wide limit",
  throttle:
    "a throttle key expression failed on an event; the run is throttled with the function-wide key",
  debounce:
    "a debounce key expression failed on an event; the run is debounced with the function-wide key",
} as const;

/**
 * Composes `@evt/functions` into the gateway: the dispatcher the Event API calls before each
 * answer, the executor that calls the apps, the syncer of `--app-url`, and the routes
 * `/fn/register`, `/dev`, `/v1/apps`, `/v1/functions`, `/v1/runs/:id`, `/v1/events/:id/runs`.
 */
export function createGatewayFunctions(options: GatewayFunctionsOptions): GatewayFunctions {
  const { config, runs, store, logger, hooks, dedup } = options;
  const dev = config.mode === "dev";
  const signingKey = config.signingKey;
  const registerKeys = [signingKey, config.signingKeyFallback].filter(
    (k): k is string => k !== null,
  );
  const sign = signingKey === null ? undefined : (body: string) => signRequest(body, signingKey);
  const readKeys = new KeyMatcher(dev || config.publicReads ? [] : config.apiKeys);
  const shared = driverName(config.runs) === "postgres";
  let api: EventApi | null = null;

  // The system events of runs that end in one turn of the event loop are stored by one
  // ingest (one dedup claim, one append), not one each.
  const systemEvents = createCoalescingSender((events, env) => {
    if (api === null) return Promise.reject(new Error("the Event API is not started"));
    return api.send(events, { env });
  });
  const dispatcher = createDispatcher({
    runs,
    // idempotency: one run per key value in 24 h, claimed in the dedup store every gateway
    // shares (its keys start with NUL: they cannot meet an event's `<env>\0<id>` key).
    claimIdempotencyKey: async (functionId, key, eventInternalId) => {
      const [claim] = await dedup.claim(
        [{ key: `\u0000idempotency\u0000${functionId}\u0000${key}`, value: eventInternalId }],
        IDEMPOTENCY_WINDOW_MS,
      );
      // The same event again (a retried request) goes ahead: its run is found, not made twice.
      const go = claim!.fresh || claim!.value === eventInternalId;
      if (!go) hooks.onRunSkipped?.(functionId, "idempotency");
      return go;
    },
    onKeyError: (info) =>
      logger.warn(
        { functionId: info.functionId, expression: info.expression, err: info.error },
        KEY_ERROR[info.kind ?? "idempotency"],
      ),
    onBatchError: (info) =>
      logger.warn(
        { functionId: info.functionId, expression: info.expression, err: info.error },
        info.field === "if"
          ? "a batchEvents if expression failed on an event; the event runs unbatched"
          : "a batchEvents key expression failed on an event; it joins the function's unkeyed batch",
      ),
    // rateLimit: taken in the run store (shared by the gateways on one PostgreSQL).
    onRunSkipped: (functionId, reason) => hooks.onRunSkipped?.(functionId, reason),
    onEvaluationError: (info) =>
      logger.debug(
        { functionId: info.functionId, eventName: info.eventName, err: info.error },
        "a trigger's if expression failed on an event; the function does not run",
      ),
    // Runs due now start held by this gateway's executor when it has a free slot: their
    // first call follows the commit that created them, with no claim and no reads.
    holder: {
      reserve: () => executor.reserve(),
      adopt: (run, event) => executor.adopt(run, event),
      // Runs created queued (every slot taken) keep their event for their claim here.
      expect: (run, event) => executor.expect(run, event),
      unreserve: () => executor.unreserve(),
    },
  });
  const syncer = createAppSyncer({
    urls: config.appUrls,
    serverKind: dev ? "dev" : "cloud",
    ...(sign ? { sign } : {}),
    logger,
  });
  const executor = createExecutor({
    runs,
    loadEvent: (id, env) => store.get(id, env),
    send: (events, env) => systemEvents.send(events, env),
    getFunction: (id) => dispatcher.functionById(id) ?? runs.getFunction(id),
    ...(sign ? { sign } : {}),
    onUnknownFunction: (url) => {
      void syncer.syncNow(url);
    },
    onWaiting: () => waits.notify(),
    // step.invoke: the child is started like POST /v1/functions/:id/invoke does, only that
    // function, on an `inngest/function.invoked` event whose id makes a repeat harmless.
    invoke: async (request) => {
      if (api === null) throw new Error("the Event API is not started");
      const [internalId] = await api.send(
        [{ id: request.eventId, name: "inngest/function.invoked", data: request.data }],
        { env: request.env, source: "function", sourceId: request.parentRunId },
      );
      const { created } = await runs.createRun({
        functionId: request.functionId,
        eventInternalId: internalId!,
        env: request.env,
        dueAt: Date.now(),
      });
      if (created) {
        logger.info(
          { runId: request.parentRunId, functionId: request.functionId },
          "step.invoke started a run",
        );
        executor.wake();
      }
    },
    concurrency: config.maxConcurrentRuns,
    // SQLite and memory run stores serve this gateway alone: its claims are the only ones.
    exclusive: !shared,
    leaseMs: config.runLeaseMs,
    pollMs: shared ? 1_000 : 5_000,
    retry: dev ? DEV_RETRY_POLICY : DEFAULT_RETRY_POLICY,
    logger,
    hooks,
  });
  // step.waitForEvent / step.invoke: waiting runs, indexed by what they wait for.
  const waits = createWaitMatcher({
    runs,
    shared,
    logger,
    onResolved: () => executor.wake(),
  });
  const cron = createCronScheduler({
    runs,
    crons: () => dispatcher.crons(),
    logger,
    fire: async (tick) => {
      if (api === null) throw new Error("the Event API is not started");
      // The same id on every gateway: the tick's event is stored once, and the run store's
      // one run per (function, event) makes its run once.
      const [internalId] = await api.send(
        [
          {
            id: `cron:${tick.functionId}:${tick.tickAt}`,
            name: "inngest/scheduled.timer",
            data: { cron: tick.cron },
            ts: tick.tickAt,
          },
        ],
        { env: "production", source: "cron" },
      );
      const { created } = await runs.createRun({
        functionId: tick.functionId,
        eventInternalId: internalId!,
        env: "production",
        dueAt: tick.dueAt,
      });
      if (created) {
        logger.info(
          { functionId: tick.functionId, tickAt: new Date(tick.tickAt).toISOString() },
          "cron tick started a run",
        );
        executor.wake();
      }
    },
  });
  /**
   * Store `inngest/function.cancelled` for a run (like any event: it triggers functions and
   * shows in reads; its id makes a repeat harmless).
   */
  async function emitCancelled(run: RunRecord): Promise<void> {
    const stored = await store.get(run.eventInternalId, run.env).catch(() => null);
    await systemEvents
      .send(
        [
          {
            id: `cancelled:${run.runId}:${run.startedAt ?? run.createdAt}`,
            name: "inngest/function.cancelled",
            data: {
              function_id: run.functionId,
              run_id: run.runId,
              event: stored === null ? null : sdkEvent(stored),
            },
          },
        ],
        run.env,
      )
      .catch((err: unknown) =>
        logger.warn({ runId: run.runId, err }, "storing inngest/function.cancelled failed"),
      );
  }
  const canceller = createCanceller({
    runs,
    loadEvent: (id, env) => store.get(id, env),
    logger,
    onCancelled: async (run) => {
      hooks.onRunCancelled?.(run.functionId, run);
      // Not awaited: this runs inside an ingest, and the cancelled event is itself ingested.
      void emitCancelled(run);
    },
  });
  /** Re-read functions, then the cron schedules and cancel rules they register. */
  const refreshAll = async () => {
    await dispatcher.refresh();
    await Promise.all([cron.refresh(), canceller.refresh()]);
  };
  let refreshTimer: NodeJS.Timeout | null = null;

  async function register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") {
      req.resume();
      sendJson(res, 405, { status: 405, error: "POST /fn/register only" }, { allow: "POST" });
      return;
    }
    if (!dev && registerKeys.length === 0) {
      req.resume();
      sendJson(res, 401, {
        ok: false,
        status: 401,
        error:
          "evt-gateway start has no signing key: start it with --signing-key signkey-<env>-<hex> (EVT_SIGNING_KEY) and give the app the same INNGEST_SIGNING_KEY",
      });
      return;
    }
    if (registerKeys.length > 0 && !checkRegisterAuth(req.headers.authorization, registerKeys)) {
      req.resume();
      sendJson(res, 401, {
        ok: false,
        status: 401,
        error:
          "evt refused the registration: the app's signing key does not match the gateway's (Authorization: Bearer <hashed INNGEST_SIGNING_KEY>); give the app the key of --signing-key",
      });
      return;
    }
    const text = await readBody(req, MAX_REGISTER_BYTES);
    if (text === "too_large" || text === "timeout") {
      sendJson(
        res,
        text === "too_large" ? 413 : 408,
        {
          ok: false,
          status: text === "too_large" ? 413 : 408,
          error:
            text === "too_large"
              ? `evt refused the registration: the body is larger than ${MAX_REGISTER_BYTES} bytes`
              : "evt refused the registration: the body did not arrive in time",
        },
        { connection: "close" },
      );
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      sendJson(res, 400, {
        ok: false,
        status: 400,
        error: "evt refused the registration: the body is not JSON",
      });
      return;
    }
    const answer = await handleRegister(runs, body);
    if (answer.body.ok) {
      await refreshAll();
      const listed = (body as { functions?: unknown }).functions;
      for (const f of Array.isArray(listed) ? listed : []) {
        const { id, name: _name, ...config } = f as { id: string; name: string };
        for (const warning of unsupportedFeatures(config as never))
          logger.warn({ functionId: id }, `function registered with ${warning}`);
      }
      const app = body as { url?: unknown; appName?: unknown };
      logger.info(
        {
          appId: app.appName,
          appUrl: app.url,
          functions: dispatcher.size,
          modified: answer.body.modified,
        },
        "app registered its functions",
      );
      executor.wake();
    } else {
      logger.warn({ error: answer.body.error }, "a registration was refused");
    }
    sendJson(res, answer.status, answer.body);
  }

  function devInfo(res: ServerResponse): void {
    sendJson(
      res,
      200,
      {
        version: `evt-gateway ${VERSION}`,
        authed: false,
        startOpts: { dev: true, sdkURLs: config.appUrls },
        functions: [],
        handlers: [],
        isSingleNodeService: true,
        isMissingSigningKey: signingKey === null,
        isMissingEventKeys: true,
        features: {},
      },
      { "x-inngest-server-kind": "dev" },
    );
  }

  /**
   * `POST /v1/functions/:functionId/invoke` `{ data?, idempotencyKey? }`: stores an
   * `inngest/function.invoked` event and starts a run of the function on it. A repeated
   * idempotency key (within the dedup window) answers 409 with the run it started.
   */
  async function invoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const writeKeys = dev ? [] : config.apiKeys;
    if (!dev && writeKeys.length === 0) {
      req.resume();
      sendJson(res, 403, {
        status: 403,
        error: "invoking a function needs an API key: start the gateway with --api-key <key>",
      });
      return;
    }
    if (
      writeKeys.length > 0 &&
      !new KeyMatcher(writeKeys).matches(bearerToken(req.headers.authorization))
    ) {
      req.resume();
      return needsKey(res);
    }
    if (req.method !== "POST") {
      req.resume();
      return notAllowed(res, "POST");
    }
    const path = (req.url ?? "/").split("?", 1)[0]!;
    let functionId: string;
    try {
      functionId = decodeURIComponent(path.slice("/v1/functions/".length, -"/invoke".length));
    } catch {
      req.resume();
      sendJson(res, 400, { status: 400, error: "the function id is not valid percent-encoding" });
      return;
    }
    const text = await readBody(req, 1024 * 1024);
    if (text === "too_large" || text === "timeout") {
      sendJson(res, text === "too_large" ? 413 : 408, {
        status: text === "too_large" ? 413 : 408,
        error:
          text === "too_large"
            ? "the body is larger than 1 MiB"
            : "the body did not arrive in time",
      });
      return;
    }
    let body: { data?: unknown; idempotencyKey?: unknown } = {};
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        sendJson(res, 400, {
          status: 400,
          error: 'the body is not JSON; send { "data": {...}, "idempotencyKey": "..." }',
        });
        return;
      }
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      sendJson(res, 400, {
        status: 400,
        error: 'the body must be an object like { "data": {...}, "idempotencyKey": "..." }',
      });
      return;
    }
    const data = body.data ?? {};
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      sendJson(res, 400, { status: 400, error: "data must be an object" });
      return;
    }
    const key = body.idempotencyKey;
    if (key !== undefined && (typeof key !== "string" || key === "" || key.length > 256)) {
      sendJson(res, 400, {
        status: 400,
        error: "idempotencyKey must be a string of 1..256 characters",
      });
      return;
    }
    const fn = await runs.getFunction(functionId);
    if (fn === null)
      return notFound(
        res,
        `function ${JSON.stringify(functionId)} is not registered (GET /v1/functions lists them by their composite id <app id>-<function id>)`,
      );
    if (api === null) throw new Error("the Event API is not started");
    const env = "production";
    const [internalId] = await api.send(
      [
        {
          ...(key === undefined ? {} : { id: `invoke:${functionId}:${key}` }),
          name: "inngest/function.invoked",
          data: data as Record<string, unknown>,
        },
      ],
      // Asked for through the API (the console's invoke button, curl).
      { env, source: "api" },
    );
    const { run, created } = await runs.createRun({
      functionId,
      eventInternalId: internalId!,
      env,
      dueAt: Date.now(),
    });
    if (!created) {
      sendJson(res, 409, {
        status: 409,
        error: `idempotencyKey ${JSON.stringify(key)} already started run ${run.runId}`,
        data: runView(run),
      });
      return;
    }
    executor.wake();
    sendJson(res, 201, { data: runView(run) });
  }

  async function reads(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    req.resume();
    if (!readKeys.open && !readKeys.matches(bearerToken(req.headers.authorization))) {
      return needsKey(res);
    }
    const method = req.method ?? "GET";
    let parts: string[];
    try {
      parts = path
        .split("/")
        .filter((p) => p !== "")
        .map((p) => decodeURIComponent(p));
    } catch {
      sendJson(res, 400, {
        status: 400,
        error: "the path is not valid percent-encoding (RFC 3986)",
      });
      return;
    }
    // v1 apps | v1 functions | v1 runs :id [replay] | v1 events :id runs
    if (parts[1] === "apps" && parts.length === 2) {
      if (method !== "GET") return notAllowed(res, "GET");
      const apps = await runs.listApps();
      const syncs = new Map(syncer.states().map((s) => [s.url, s]));
      sendJson(res, 200, {
        data: apps.map((a) => ({
          id: a.appId,
          url: a.url,
          sdk: a.sdk,
          framework: a.framework,
          synced_at: a.syncedAt === null ? null : new Date(a.syncedAt).toISOString(),
          error: a.lastError,
          // Apps of --app-url: this gateway syncs them (and POST /v1/apps/sync can ask it to).
          synced_by_gateway: syncs.has(a.url),
        })),
      });
      return;
    }
    if (parts[1] === "apps" && parts[2] === "sync" && parts.length === 3) {
      if (method !== "POST") return notAllowed(res, "POST");
      const url = new URL(req.url ?? "/", "http://x").searchParams.get("url");
      const known = syncer.states().map((s) => s.url);
      // Only the URLs the gateway was started with: a key must not make it PUT anywhere.
      if (url !== null && !known.includes(url)) {
        return notFound(
          res,
          `${JSON.stringify(url.slice(0, 300))} is not an app URL this gateway syncs (its --app-url: ${known.length === 0 ? "none" : known.join(", ")})`,
        );
      }
      await syncer.syncNow(url ?? undefined);
      sendJson(res, 200, {
        data: syncer
          .states()
          .filter((s) => url === null || s.url === url)
          .map((s) => ({
            url: s.url,
            ok: s.ok,
            error: s.error,
            at: s.at === null ? null : new Date(s.at).toISOString(),
          })),
      });
      return;
    }
    if (parts[1] === "functions" && parts.length === 2) {
      if (method !== "GET") return notAllowed(res, "GET");
      const [apps, fns] = await Promise.all([runs.listApps(), runs.listFunctions()]);
      const appIds = new Map(apps.map((a) => [a.url, a.appId]));
      const now = new Date();
      sendJson(res, 200, {
        data: fns.map((f) => ({
          ...functionView(f, appIds.get(f.appUrl) ?? null),
          schedule: scheduleOf(f.config, now),
        })),
      });
      return;
    }
    if (parts[1] === "runs" && parts.length === 3) {
      const runId = parts[2]!;
      if (method === "GET") {
        const run = await runs.getRun(runId);
        if (run === null) return notFound(res, `run ${JSON.stringify(runId)} not found`);
        const [steps, waiting, batch, attempts] = await Promise.all([
          runs.listSteps(runId),
          runs.listWaits(runId),
          runs.listBatchEvents(runId),
          runs.listAttempts(runId),
        ]);
        sendJson(res, 200, { data: runDetailView(run, steps, waiting, batch, attempts) });
        return;
      }
      if (method === "DELETE") {
        const run = await runs.getRun(runId);
        if (run === null) return notFound(res, `run ${JSON.stringify(runId)} not found`);
        const cancelled = await runs.cancelRun(runId, Date.now());
        if (cancelled) {
          hooks.onRunCancelled?.(run.functionId, run);
          await emitCancelled(run);
        }
        const after = await runs.getRun(runId);
        sendJson(res, cancelled ? 200 : 409, {
          ...(cancelled
            ? {}
            : { error: `run ${runId} had already finished (${after?.status}); nothing changed` }),
          data: after === null ? null : runView(after),
        });
        return;
      }
      return notAllowed(res, "GET, DELETE");
    }
    if (parts[1] === "runs" && parts.length === 4 && parts[3] === "replay") {
      if (method !== "POST") return notAllowed(res, "POST");
      const runId = parts[2]!;
      const before = await runs.getRun(runId);
      if (before === null) return notFound(res, `run ${JSON.stringify(runId)} not found`);
      const replayed = await runs.replayRun(runId, Date.now());
      if (replayed === null) {
        sendJson(res, 409, {
          status: 409,
          error: `run ${runId} is ${before.status}; only a failed or cancelled run can be replayed`,
          data: runView(before),
        });
        return;
      }
      logger.info({ runId, functionId: replayed.functionId }, "run replayed");
      executor.wake();
      sendJson(res, 202, { data: runView(replayed) });
      return;
    }
    if (parts[1] === "events" && parts.length === 4 && parts[3] === "runs") {
      if (method !== "GET") return notAllowed(res, "GET");
      // The event's own runs and the batches (batchEvents) it is in, once each, by run id.
      const [own, batched] = await Promise.all([
        runs.listRunsForEvent(parts[2]!),
        runs.listBatchRunsForEvent(parts[2]!),
      ]);
      const byId = new Map([...own, ...batched].map((r) => [r.runId, r]));
      const list = [...byId.values()].sort((a, b) => (a.runId < b.runId ? -1 : 1));
      sendJson(res, 200, { data: list.map(runView) });
      return;
    }
    notFound(res, "no such route");
  }

  function needsKey(res: ServerResponse): void {
    sendJson(
      res,
      401,
      { status: 401, error: "this route needs an API key: Authorization: Bearer <key>" },
      { "www-authenticate": "Bearer" },
    );
  }
  function notAllowed(res: ServerResponse, allow: string): void {
    sendJson(res, 405, { status: 405, error: `method not allowed (allowed: ${allow})` }, { allow });
  }
  function notFound(res: ServerResponse, error: string): void {
    sendJson(res, 404, { status: 404, error });
  }

  function failed(res: ServerResponse, err: unknown, what: string): void {
    const unavailable = isFunctionsError(err, "unavailable", "closed");
    const invalid = isFunctionsError(err, "invalid_input");
    logger[invalid ? "debug" : "error"]({ err }, `${what} failed`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (invalid) {
      sendJson(res, 400, {
        status: 400,
        error: (err as Error).message.replace(/^\[evt\/functions\] \[[a-z]+\] /, ""),
      });
      return;
    }
    sendJson(
      res,
      unavailable ? 503 : 500,
      {
        status: unavailable ? 503 : 500,
        error: unavailable ? "the run store is unavailable; retry" : "internal error",
      },
      unavailable ? { "retry-after": "1" } : {},
    );
  }

  return {
    runs,
    dispatcher,
    executor,
    syncer,
    async dispatch({ env, events }) {
      const result = await dispatcher.dispatch(env, events);
      if (result.created.length > 0 || result.appended.length > 0) executor.wake();
      await waits.match(env, events);
      await canceller.cancelMatching(env, events);
      return result.created;
    },
    route(req, res, route) {
      if (route === "/fn/register") {
        register(req, res).catch((err: unknown) => failed(res, err, "/fn/register"));
        return true;
      }
      if (route === "/dev") {
        req.resume();
        if (!dev) notFound(res, "GET /dev answers in evt-gateway dev only");
        else if (req.method !== "GET") notAllowed(res, "GET");
        else devInfo(res);
        return true;
      }
      if (route === "/v1/functions/:functionId/invoke") {
        invoke(req, res).catch((err: unknown) => failed(res, err, route));
        return true;
      }
      if (
        route.startsWith("/v1/") &&
        route !== "/v1/events" &&
        route !== "/v1/events/:internalId" &&
        route !== "/v1/envs"
      ) {
        const path = (req.url ?? "/").split("?", 1)[0]!;
        reads(req, res, path).catch((err: unknown) => failed(res, err, route));
        return true;
      }
      return false;
    },
    start(eventApi) {
      api = eventApi;
      if (shared) executor.start();
      else {
        // The only gateway on this store: runs still marked running were held by a process
        // that died (kill -9, power loss). Resume them now rather than when their leases end.
        runs
          .expireLeases(Date.now())
          .then(
            (freed) => {
              if (freed > 0) logger.info({ runs: freed }, "resuming runs a previous process held");
            },
            (err: unknown) =>
              logger.warn({ err }, "freeing the leases of a previous process failed"),
          )
          .finally(() => executor.start());
      }
      syncer.start();
      // The functions were read before the API started; their cron schedules start now.
      cron
        .refresh()
        .catch((err: unknown) => logger.warn({ err }, "scheduling cron triggers failed"));
      if (shared) {
        // Another gateway may take a sync: re-read the functions (only changes are re-indexed).
        refreshTimer = setInterval(() => {
          refreshAll().catch((err: unknown) =>
            logger.warn({ err }, "re-reading the functions failed"),
          );
        }, 2_000);
        refreshTimer.unref();
      }
    },
    async stop(timeoutMs) {
      syncer.stop();
      cron.stop();
      if (refreshTimer !== null) clearInterval(refreshTimer);
      await executor.stop(timeoutMs);
    },
  };
}

/**
 * Collects the events sent in one turn of the event loop and sends them per environment in
 * one call; each caller resolves (or rejects) with the call that carried its events.
 */
function createCoalescingSender<E>(sendAll: (events: E[], env: string) => Promise<unknown>) {
  let queue = new Map<
    string,
    { events: E[]; waiters: { resolve(): void; reject(e: unknown): void }[] }
  >();
  let scheduled = false;
  function flush(): void {
    scheduled = false;
    const batches = queue;
    queue = new Map();
    for (const [env, batch] of batches) {
      sendAll(batch.events, env).then(
        () => {
          for (const w of batch.waiters) w.resolve();
        },
        (error: unknown) => {
          for (const w of batch.waiters) w.reject(error);
        },
      );
    }
  }
  return {
    send(events: readonly E[], env: string): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        let batch = queue.get(env);
        if (batch === undefined) {
          batch = { events: [], waiters: [] };
          queue.set(env, batch);
        }
        batch.events.push(...events);
        batch.waiters.push({ resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}
