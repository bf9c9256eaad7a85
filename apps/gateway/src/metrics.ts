import type { ExecutorHooks, RunRecord } from "@evt/functions";
import type { EventApiHooks } from "@evt/server";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The gateway's Prometheus metrics: one registry, the hooks that feed it, and the in-flight gauge. */
export interface GatewayMetrics {
  /** The registry `/metrics` serves (default process metrics included). */
  readonly registry: Registry;
  /** Hooks for `createEventApi({ hooks })`. */
  readonly hooks: EventApiHooks;
  /** Hooks for the functions executor (runs by function, call latency, first-call lag). */
  readonly functionHooks: ExecutorHooks & {
    onRunCancelled(functionId: string, run: RunRecord): void;
    onRunSkipped(functionId: string, reason: string): void;
  };
  /** Call when a request starts; call the returned function once it is answered. */
  requestStarted(): () => void;
  /** Prometheus text exposition of every metric. */
  render(): Promise<string>;
  /** Content type of {@link render}'s text. */
  readonly contentType: string;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Log lines dropped so far (read at each scrape), e.g. `() => logLinesDropped(logger)`. @default none: 0 */
  logLinesDropped?: () => number;
  /** Runs waiting and working, read at each scrape (`RunStore.countActive`). @default none */
  runsActive?: () => Promise<{ queued: number; due: number; running: number }>;
}

/** Label children of `evt_http_request_duration_seconds` kept for reuse. */
const MAX_DURATION_CHILDREN = 1_000;

const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Creates the metrics of one gateway in its own registry (never the global one, so several
 * gateways in one process, e.g. in tests, do not collide).
 *
 * Metrics: `evt_events_accepted_total`, `evt_events_duplicate_total`,
 * `evt_requests_rejected_total{reason}`, `evt_http_request_duration_seconds{route,method,status}`,
 * `evt_dedup_duration_seconds`, `evt_store_duration_seconds`, `evt_http_requests_in_flight`,
 * `evt_log_lines_dropped_total`,
 * plus the default `process_*` and `nodejs_*` metrics.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * const api = createEventApi({ dedup, store, hooks: metrics.hooks });
 * console.log(await metrics.render());
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const droppedSource = options.logLinesDropped;
  let droppedSeen = 0;
  new Counter({
    name: "evt_log_lines_dropped_total",
    help: "Log lines dropped because the reader of stdout fell more than --log-buffer behind.",
    registers: [registry],
    collect() {
      const now = droppedSource?.() ?? 0;
      if (now > droppedSeen) {
        this.inc(now - droppedSeen);
        droppedSeen = now;
      }
    },
  });

  const accepted = new Counter({
    name: "evt_events_accepted_total",
    help: "Events accepted and stored (duplicates not included).",
    registers: [registry],
  });
  const duplicates = new Counter({
    name: "evt_events_duplicate_total",
    help: "Events acknowledged but not stored again because their id was seen within the dedup window.",
    registers: [registry],
  });
  const rejected = new Counter({
    name: "evt_requests_rejected_total",
    help: "Requests refused, by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: "evt_http_request_duration_seconds",
    help: "Time to answer a request, by route template, method and status.",
    labelNames: ["route", "method", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const dedupDuration = new Histogram({
    name: "evt_dedup_duration_seconds",
    help: "Duration of the dedup store claim of one ingest request.",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const storeDuration = new Histogram({
    name: "evt_store_duration_seconds",
    help: "Duration of the event store calls of one ingest request.",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "evt_http_requests_in_flight",
    help: "Requests being answered right now.",
    registers: [registry],
  });

  const runsActive = options.runsActive;
  new Gauge({
    name: "evt_runs_active",
    help: "Runs in progress: queued (sleeping, retrying or due), due (queued and waiting for a claim: the queue depth) and running (held by a gateway). Shared by every gateway on one run store.",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      if (runsActive === undefined) return;
      try {
        const c = await runsActive();
        this.set({ state: "queued" }, c.queued);
        this.set({ state: "due" }, c.due);
        this.set({ state: "running" }, c.running);
      } catch {
        // A run store that does not answer leaves the last values; /ready reports the outage.
      }
    },
  });
  const runsStarted = new Counter({
    name: "evt_runs_started_total",
    help: "Function runs called for the first time, by function.",
    labelNames: ["function"] as const,
    registers: [registry],
  });
  const runsFinished = new Counter({
    name: "evt_runs_finished_total",
    help: "Function runs that reached a final status (completed, failed, cancelled), by function.",
    labelNames: ["function", "status"] as const,
    registers: [registry],
  });
  const callDuration = new Histogram({
    name: "evt_function_call_duration_seconds",
    help: "Duration of one HTTP call to an SDK app, by function and status (none: no answer).",
    labelNames: ["function", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const firstCallLag = new Histogram({
    name: "evt_run_first_call_lag_seconds",
    help: "Time from an event's receipt to the first call of a run it triggered.",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const runsSkipped = new Counter({
    name: "evt_runs_skipped_total",
    help: "Runs an event did not start, by function and reason (idempotency: the key was taken within 24 h; rate_limit: the function's rateLimit was reached).",
    labelNames: ["function", "reason"] as const,
    registers: [registry],
  });
  const functionHooks: GatewayMetrics["functionHooks"] = {
    onRunSkipped(functionId, reason) {
      runsSkipped.inc({ function: functionId, reason });
    },
    onRunStarted({ functionId, lagMs }) {
      runsStarted.inc({ function: functionId });
      firstCallLag.observe(lagMs / 1000);
    },
    onCall({ functionId, status, durationMs }) {
      callDuration.observe(
        { function: functionId, status: status === null ? "none" : String(status) },
        durationMs / 1000,
      );
    },
    onRunFinished({ functionId, status }) {
      runsFinished.inc({ function: functionId, status });
    },
    onRunCancelled(functionId) {
      runsFinished.inc({ function: functionId, status: "cancelled" });
    },
  };

  // The label children of the request histogram, by "route method status": few (route
  // templates, node's methods, statuses), so each is looked up once, not per request.
  const durationChildren = new Map<string, ReturnType<typeof requestDuration.labels>>();
  const hooks: EventApiHooks = {
    onRequest({ route, method, status, durationMs }) {
      const key = `${route} ${method} ${status}`;
      let child = durationChildren.get(key);
      if (child === undefined) {
        child = requestDuration.labels(route, method, String(status));
        if (durationChildren.size < MAX_DURATION_CHILDREN) durationChildren.set(key, child);
      }
      child.observe(durationMs / 1000);
    },
    onEvents({ accepted: a, duplicates: d }) {
      if (a > 0) accepted.inc(a);
      if (d > 0) duplicates.inc(d);
    },
    onRejected({ reason }) {
      rejected.inc({ reason });
    },
    onDedup(durationMs) {
      dedupDuration.observe(durationMs / 1000);
    },
    onStore(durationMs) {
      storeDuration.observe(durationMs / 1000);
    },
  };

  return {
    registry,
    hooks,
    functionHooks,
    contentType: registry.contentType,
    requestStarted() {
      inFlight.inc();
      let done = false;
      return () => {
        if (done) return;
        done = true;
        inFlight.dec();
      };
    },
    render: () => registry.metrics(),
  };
}
