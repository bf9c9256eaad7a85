import type { Server } from "node:http";
import { join } from "node:path";
import { type RunStore, runIdOfTraceparent } from "@evt/functions";
import {
  type ApiRequest,
  createEventApi,
  type EventApiHooks,
  type EventOrigin,
  KeyMatcher,
} from "@evt/server";
import { type Listener, listen } from "@evt/server/node";
import type { WebhookStore } from "@evt/webhooks";
import type { Logger } from "pino";
import {
  ConfigError,
  driverName,
  type GatewayConfig,
  type GatewayOptions,
  resolveConfig,
  sqliteInWorker,
} from "./config";
import { createConsole, eventMessage, type GatewayConsole } from "./console";
import { startSharedStream } from "./console-poll";
import { createCorsPolicy } from "./cors";
import { createOutbox, DISPATCH_MARK_FILE } from "./dispatch-mark";
import { type GatewayStores, openStores } from "./drivers";
import { createGatewayFunctions, openRunStore } from "./functions";
import { hostPolicy, isLoopback } from "./host-policy";
import { createGatewayListener } from "./http";
import { type LoadedKey, loadKeysFile } from "./keys-file";
import { createLogger, logLinesDropped } from "./logger";
import { createMetrics, type GatewayMetrics } from "./metrics";
import { startRetention } from "./retention";
import { VERSION } from "./version";
import { loadWebhooksFile, openWebhookStore } from "./webhook-sources";
import { createGatewayWebhooks } from "./webhooks";

/** A running gateway. */
export interface Gateway {
  /** Base URL it listens on, e.g. `http://127.0.0.1:8288`. */
  readonly url: string;
  /** The effective configuration. */
  readonly config: GatewayConfig;
  /** The one-line summary printed at start (mode, URL, drivers). */
  readonly summary: string;
  /** The node:http server (for tests and embedders). */
  readonly server: Server;
  /** The gateway's metrics registry and hooks. */
  readonly metrics: GatewayMetrics;
  /**
   * Graceful shutdown: stop accepting connections, answer every request already received
   * (later requests on open connections get 503), then close the stores. Safe to call twice.
   */
  close(): Promise<void>;
}

/** Extra, non-configuration inputs of {@link startGateway}. */
export interface StartGatewayExtras {
  /** Logger to use instead of the one built from `logLevel`/`pretty`. */
  logger?: Logger;
  /** Stores to use instead of the ones `dedup`/`store` name; the gateway closes them on `close()`. */
  stores?: GatewayStores;
  /** Run store to use instead of the one `runs` names; the gateway closes it on `close()`. */
  runStore?: RunStore;
  /** Webhook store to use instead of the one beside the runs; the gateway closes it on `close()`. */
  webhookStore?: WebhookStore;
}

/**
 * Starts a gateway in this process: opens the stores, builds the Event API with metrics and
 * logs, and listens. Resolves once it accepts connections.
 *
 * @example
 * ```ts
 * import { startGateway } from "@evt/gateway";
 *
 * const gateway = await startGateway({ mode: "dev", port: 0, dedup: "memory", store: "memory" });
 * await fetch(`${gateway.url}/e/any-key`, { method: "POST", body: '{"name":"app/hello"}' });
 * await gateway.close();
 * ```
 */
export async function startGateway(
  options: GatewayOptions & StartGatewayExtras = {},
): Promise<Gateway> {
  const {
    logger: givenLogger,
    stores: givenStores,
    runStore: givenRuns,
    webhookStore: givenWebhooks,
    ...settings
  } = options;
  const config = resolveConfig(settings);
  const logger =
    givenLogger ??
    createLogger({
      level: config.logLevel,
      pretty: config.pretty,
      bufferBytes: config.logBufferBytes,
    });
  const dev = config.mode === "dev";

  if (dev) {
    logger.warn(
      { mode: "dev" },
      'development mode: any event key is accepted and reads are open; run "evt-gateway start --event-key <key> --api-key <key>" in production',
    );
    if (!isLoopback(config.host)) {
      logger.warn(
        { mode: "dev", host: config.host },
        `DEVELOPMENT MODE ON A NON-LOOPBACK INTERFACE (${config.host}): anyone who can reach this port can send events with any key and read every event; listen on 127.0.0.1 (the default) or run "evt-gateway start" with keys`,
      );
    }
    if (config.eventKeys.length > 0 || config.apiKeys.length > 0 || config.keysFile !== null) {
      logger.warn(
        { mode: "dev" },
        "event keys, the keys file and API keys are ignored in development mode",
      );
    }
  } else if (config.publicReads) {
    logger.warn(
      { mode: "start", publicReads: true },
      "reads are public (--public-reads): GET /v1/events, GET /v1/events/:id and /metrics answer anyone who can reach this port; pass --api-key <key> to require a key",
    );
  }
  if (!dev && (config.dedup === "memory" || config.store === "memory")) {
    logger.warn(
      { dedup: driverName(config.dedup), store: driverName(config.store) },
      "a memory driver keeps nothing across restarts and is not shared between gateways",
    );
  }

  // Read before any store opens: a bad keys file is a configuration error (exit 2).
  const fileKeys: LoadedKey[] =
    !dev && config.keysFile !== null ? loadKeysFile(config.keysFile, config.eventKeys) : [];
  if (fileKeys.length > 0) {
    logger.info(
      { keysFile: config.keysFile, keys: fileKeys.map((k) => k.summary) },
      "scoped event keys loaded; public keys deduplicate in namespaces of their own",
    );
  }

  if (!dev && config.signingKey === null && config.appUrls.length > 0) {
    throw new ConfigError(
      "start with --app-url needs --signing-key signkey-<env>-<hex> (EVT_SIGNING_KEY): apps in production check that every call is signed; give the app the same INNGEST_SIGNING_KEY",
    );
  }
  // Like the keys file: a bad webhooks file is a configuration error, before any store opens.
  const fileWebhooks =
    config.webhooksFile === null ? [] : loadWebhooksFile(config.webhooksFile, dev);
  // Without a run store given, the run store may share the SQLite file of the others.
  const opened = givenStores ?? openStores(config, givenRuns === undefined);
  const { dedup, store } = opened;
  let runs: RunStore;
  let webhookStore: WebhookStore;
  // Stores given in memory (tests, embedding) keep their runs in memory too, unless told.
  const runsLikeGiven =
    givenStores !== undefined && settings.runs === undefined && store.driver === "memory";
  const runsConfig = runsLikeGiven ? { ...config, runs: "memory" } : config;
  try {
    runs = givenRuns ?? opened.runs ?? openRunStore(runsConfig);
  } catch (err) {
    await Promise.allSettled([dedup.close(), store.close()]);
    throw err;
  }
  try {
    // Webhook sources live beside the run state (the same driver, file folder or database).
    webhookStore = givenWebhooks ?? openWebhookStore(runsConfig);
  } catch (err) {
    await Promise.allSettled([dedup.close(), store.close(), runs.close()]);
    throw err;
  }
  const closeStores = async () => {
    await Promise.allSettled([dedup.close(), store.close(), runs.close(), webhookStore.close()]);
  };

  try {
    await checkStores({ dedup, store }, logger);
  } catch (err) {
    await closeStores();
    throw err;
  }

  const metrics = createMetrics({
    logLinesDropped: () => logLinesDropped(logger),
    runsActive: () => runs.countActive(Date.now()),
  });
  // The console's live stream reads like the read API: open in dev or with --public-reads.
  const outbox =
    !givenStores && !givenRuns && store.driver === "sqlite" && runs.driver === "sqlite"
      ? createOutbox(join(config.dataDir, DISPATCH_MARK_FILE), logger)
      : null;
  const startedAt = Date.now();
  const consolePage = createConsole({
    readKeys: new KeyMatcher(dev || config.publicReads ? [] : config.apiKeys),
    logger,
    status: async () => ({
      mode: config.mode,
      version: VERSION,
      started_at: new Date(startedAt).toISOString(),
      drivers: { dedup: dedup.driver, store: store.driver, runs: runs.driver },
      functions: functions.dispatcher.size,
      // The count /metrics shows (at most one countActive per 5 s for both).
      runs: await metrics.runsActive(),
      active_here: functions.executor.active,
      // Newest first, from the run store: with gateways sharing it, the failures of all.
      recent_failures: (await runs.listFailedRuns(RECENT_FAILURES)).map(
        (run): RecentFailure => ({
          run_id: run.runId,
          function_id: run.functionId,
          event_id: run.eventInternalId,
          failed_at: new Date(run.endedAt ?? run.createdAt).toISOString(),
        }),
      ),
    }),
  });
  // Several gateways on one event store: the stream also shows the events the others stored.
  const sharedStream =
    store.driver === "postgres"
      ? startSharedStream({ store, runs, page: consolePage, logger })
      : null;
  const functions = createGatewayFunctions({
    config,
    runs,
    store,
    dedup,
    logger,
    hooks: withRunStream(metrics.functionHooks, consolePage),
  });
  try {
    await functions.dispatcher.refresh();
  } catch (err) {
    // A run store server that is not up yet: the functions are read at the first sync.
    logger.warn({ err }, "reading the registered functions failed; retrying at the next sync");
  }
  const webhooks = createGatewayWebhooks({
    config,
    store: webhookStore,
    fileSources: fileWebhooks,
    logger,
  });
  if (fileWebhooks.length > 0) {
    logger.info(
      { webhooksFile: config.webhooksFile, webhooks: fileWebhooks.map((w) => w.name) },
      "webhook sources loaded",
    );
  }
  const apiKeys = dev ? [] : config.apiKeys;
  // Test-only failpoint, read once: process.env is a slow lookup on every request.
  const killBeforeDispatch = process.env.EVT_FAILPOINT === "kill-before-dispatch";
  const api = createEventApi({
    dedup,
    store,
    // Dedup and store in one SQLite worker: the claim and the append of a request go there once.
    ...(opened.ingest ? { ingest: opened.ingest } : {}),
    eventKeys: dev ? [] : [...config.eventKeys, ...fileKeys.map((k) => k.options)],
    apiKeys,
    dedupWindowMs: config.dedupWindowMs,
    maxRequestBytes: config.maxRequestBytes,
    maxPageBytes: config.maxPageBytes,
    maxConcurrentReads: config.maxConcurrentReads,
    maxEventDelayMs: config.maxEventDelayMs,
    // CORS is the gateway's (loopback origins in dev, --cors-origin): see createCorsPolicy.
    cors: false,
    logger,
    hooks: dev ? withDevEventLog(metrics.hooks, logger) : metrics.hooks,
    originOf: originFromRuns(runs),
    dispatch: async (batch) => {
      const done = outbox?.mark.begin(batch.events, batch.env);
      let created: Awaited<ReturnType<typeof functions.dispatch>>;
      try {
        // Test-only failpoint: die between storing events and creating their runs.
        if (killBeforeDispatch) process.kill(process.pid, "SIGKILL");
        created = await functions.dispatch(batch);
      } catch (err) {
        // The events are stored (the client gets 503): keep the mark before them, and try
        // their runs again until the run store takes them.
        if (done) outbox!.retry(batch, done);
        throw err;
      }
      done?.();
      if (consolePage.streams === 0) return;
      for (const e of batch.events) {
        if (sharedStream !== null && !sharedStream.claim(e)) continue;
        consolePage.publish(eventMessage(e));
      }
      for (const run of created) {
        consolePage.publish({
          kind: "run",
          run: {
            run_id: run.runId,
            function_id: run.functionId,
            event_id: run.eventInternalId,
            status: "Running",
          },
        });
      }
    },
  });
  // On SQLite (one gateway, events and runs in two files): re-dispatch what a crash left
  // between an event's commit and its runs'. See createDispatchMark.
  if (outbox !== null) await outbox.recover(store, (batch) => functions.dispatch(batch), logger);
  const hosts = hostPolicy(config);
  for (const warning of hosts.warnings) logger.warn({ host: config.host }, warning);
  let listener: Listener;
  try {
    listener = await listen(api, {
      port: config.port,
      host: config.host,
      maxInflightBytes: config.maxInflightBytes,
      ...(hosts.allowedHosts ? { allowedHosts: hosts.allowedHosts } : {}),
      // No hard cut: the CLI bounds shutdown with --shutdown-timeout and says so when it gives up.
      closeTimeoutMs: Number.POSITIVE_INFINITY,
      wrap: (handler) =>
        createGatewayListener({
          api: handler,
          metrics,
          logger,
          apiKeys,
          cors: createCorsPolicy(config.mode, config.corsOrigins),
          reject: api.reject,
          functions,
          console: consolePage,
          webhooks,
        }),
    });
  } catch (err) {
    sharedStream?.stop();
    await closeStores();
    // listen() wraps the socket error in a ServerError "listen_failed": say it once.
    const failed = err as { code?: unknown; cause?: unknown };
    const cause =
      failed.code === "listen_failed" && failed.cause instanceof Error ? failed.cause : err;
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${(cause as Error).message}`, {
      cause,
    });
  }

  const { url, server } = listener;
  functions.start(api);
  webhooks.start(api, url);
  const retention = startRetention(store, config.retentionMs, logger);
  const drivers = `dedup: ${dedup.driver}, store: ${store.driver}, runs: ${runs.driver}`;
  const usesFiles =
    (!givenStores && (config.dedup === "sqlite" || config.store === "sqlite")) ||
    (!givenRuns && runs.driver === "sqlite");
  const inWorker = sqliteInWorker(config);
  const files = usesFiles
    ? `, data: ${config.dataDir}, SQLite ${inWorker ? "in a worker thread" : "on the HTTP thread"}`
    : "";
  const summary = `evt-gateway ${config.mode} listening on ${url} (${drivers}${files})`;
  logger.info(
    {
      url,
      mode: config.mode,
      dedup: dedup.driver,
      store: store.driver,
      ...(usesFiles ? { sqliteThread: inWorker } : {}),
    },
    "listening",
  );

  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= (async () => {
      // listen()'s close: stop accepting, answer what was received (503 for new events), end
      // idle connections at once and busy ones after their answer.
      // Runs first: calls in flight may still send events (step.sendEvent) to this gateway.
      await functions.stop(Math.max(100, Math.floor(config.shutdownTimeoutMs / 2)));
      sharedStream?.stop();
      consolePage.close();
      await Promise.all([listener.close(), retention.stop()]);
      outbox?.close();
      await closeStores();
      logger.info({}, "closed");
    })();
    return closed;
  };

  return { url, config, summary, server, metrics, close };
}

type FunctionHooks = GatewayMetrics["functionHooks"];

/** A run that failed, as `GET /v1/status` lists it in `recent_failures`. */
interface RecentFailure {
  run_id: string;
  function_id: string;
  event_id: string;
  failed_at: string;
}

/** How many failed runs `GET /v1/status` keeps for the console's "recent failures". */
const RECENT_FAILURES = 20;

/** The metrics' run hooks, also telling the console's stream when a run starts or ends. */
function withRunStream(hooks: FunctionHooks, page: GatewayConsole): FunctionHooks {
  const tell = (run_id: string, function_id: string, event_id: string, status: string) => {
    if (page.streams > 0)
      page.publish({ kind: "run", run: { run_id, function_id, event_id, status } });
  };
  return {
    ...hooks,
    onRunStarted(info) {
      hooks.onRunStarted?.(info);
      tell(info.runId, info.functionId, info.eventInternalId, "Running");
    },
    onRunFinished(info) {
      hooks.onRunFinished?.(info);
      tell(
        info.runId,
        info.functionId,
        info.eventInternalId,
        info.status === "completed" ? "Completed" : "Failed",
      );
    },
    onRunCancelled(functionId, run) {
      hooks.onRunCancelled?.(functionId, run);
      tell(run.runId, functionId, run.eventInternalId, "Cancelled");
    },
  };
}

const API_ORIGIN: EventOrigin = { source: "api", sourceId: null };

/**
 * Where a `POST /e/` request's events come from: `function` (with the run id) when it is a
 * `step.sendEvent` of a running run, else `api`. evt sends each call with the run id in
 * `traceparent` and the SDK forwards that header on the requests of the call; a header alone
 * proves nothing (any sender can write one), so the run must exist and be running. Requests
 * without the SDK's `x-inngest-sdk` header, or whose trace id is no recent ULID, cost no lookup.
 */
function originFromRuns(runs: RunStore): (req: ApiRequest) => EventOrigin | Promise<EventOrigin> {
  return (req) => {
    // Only the SDK's requests (it sends its version in x-inngest-sdk) are looked up.
    if (req.headers["x-inngest-sdk"] === undefined) return API_ORIGIN;
    const runId = runIdOfTraceparent(req.headers.traceparent);
    if (runId === null) return API_ORIGIN;
    return runs
      .getRun(runId)
      .then((run) =>
        run?.status === "running" ? { source: "function", sourceId: runId } : API_ORIGIN,
      );
  };
}

/** Pings both stores; a store that cannot work at all (bad file, missing library) stops the start. */
async function checkStores(stores: GatewayStores, logger: Logger): Promise<void> {
  const checks = await Promise.allSettled([stores.dedup.ping(), stores.store.ping()]);
  for (const [i, check] of checks.entries()) {
    if (check.status === "fulfilled") continue;
    const which = i === 0 ? "dedup" : "event";
    const err = check.reason as { retryable?: boolean; message?: string };
    // A server (Redis, PostgreSQL) may come up after the gateway: wait for it. A local SQLite
    // file that cannot be opened at start (a folder, no permission) will not heal by itself.
    const local = (i === 0 ? stores.dedup : stores.store).driver === "sqlite";
    if (err?.retryable === true && !local) {
      logger.warn(
        { store: which, err },
        `${which} store does not answer yet; requests get 503 until it does`,
      );
    } else {
      throw new Error(`${which} store cannot start: ${err?.message ?? String(err)}`, {
        cause: err,
      });
    }
  }
}

/**
 * In `dev`, every accepted request is logged at info (names, count, ids), so the first curl
 * shows in the terminal. `start` keeps these at the metrics only: a producer could fill the log.
 */
function withDevEventLog(hooks: EventApiHooks, logger: Logger): EventApiHooks {
  return {
    ...hooks,
    onEvents(info) {
      hooks.onEvents?.(info);
      if (info.events.length === 0) return;
      const names = [...new Set(info.events.map((e) => e.name))];
      logger.info(
        {
          env: info.env,
          count: info.events.length,
          names: names.length > 5 ? [...names.slice(0, 5), `+${names.length - 5} more`] : names,
          ids:
            info.ids.length > 5
              ? [...info.ids.slice(0, 5), `+${info.ids.length - 5} more`]
              : info.ids,
          duplicates: info.duplicates,
        },
        "events received",
      );
    },
  };
}
