import type { ExecutorHooks, RunRecord } from "@evt/functions";
import type { EventApiHooks } from "@evt/server";
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Metric,
  Registry,
} from "prom-client";

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
  /**
   * The runs in progress as `evt_runs_active` shows them: counted at most once per
   * `runsActiveMaxAgeMs` (so up to that old), one count shared by the callers that ask
   * meanwhile. `null` without {@link MetricsOptions.runsActive}. Rejects when the count fails.
   */
  runsActive(): Promise<RunsActive | null>;
  /** Prometheus text exposition of every metric. */
  render(): Promise<string>;
  /** Content type of {@link render}'s text. */
  readonly contentType: string;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Log lines dropped so far (read at each scrape), e.g. `() => logLinesDropped(logger)`. @default none: 0 */
  logLinesDropped?: () => number;
  /**
   * Runs waiting and working (`RunStore.countActive`), counted at most once per
   * `runsActiveMaxAgeMs` however often `/metrics` is scraped. @default none
   */
  runsActive?: () => Promise<RunsActive>;
  /** How old a count of `runsActive` may be before the next scrape counts again. @default 5_000 */
  runsActiveMaxAgeMs?: number;
  /** The clock of `runsActiveMaxAgeMs` (ms). @default Date.now */
  now?: () => number;
}

/** Runs in progress by state (`RunStore.countActive`). */
export interface RunsActive {
  queued: number;
  due: number;
  running: number;
}

/** Default of {@link MetricsOptions.runsActiveMaxAgeMs}. */
export const RUNS_ACTIVE_MAX_AGE_MS = 5_000;

/**
 * `load`, called at most once per `maxAgeMs`: a value younger than that is answered again,
 * callers that ask while a load runs share it, and a failed load is not kept (the next caller
 * loads again).
 */
function cachedLoad<T>(load: () => Promise<T>, maxAgeMs: number, now: () => number) {
  let value: { at: number; value: T } | null = null;
  let loading: Promise<T> | null = null;
  return (): Promise<T> => {
    if (value !== null && now() - value.at < maxAgeMs) return Promise.resolve(value.value);
    if (loading !== null) return loading;
    const at = now();
    const p = load().then(
      (v) => {
        value = { at, value: v };
        return v;
      },
      (err: unknown) => {
        value = null;
        throw err;
      },
    );
    loading = p;
    const clear = () => {
      if (loading === p) loading = null;
    };
    p.then(clear, clear);
    return p;
  };
}

/** Buckets (seconds) of the latency histograms. */
export const LATENCY_BUCKETS = [
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
  const requestDuration = new HotHistogram(
    registry,
    "evt_http_request_duration_seconds",
    "Time to answer a request, by route template, method and status.",
    ["route", "method", "status"],
    LATENCY_BUCKETS,
  );
  const dedupDuration = new HotHistogram(
    registry,
    "evt_dedup_duration_seconds",
    "Duration of the dedup store claim of one ingest request.",
    [],
    LATENCY_BUCKETS,
  ).series([]);
  const storeDuration = new HotHistogram(
    registry,
    "evt_store_duration_seconds",
    "Duration of the event store calls of one ingest request.",
    [],
    LATENCY_BUCKETS,
  ).series([]);
  const inFlight = new Gauge({
    name: "evt_http_requests_in_flight",
    help: "Requests being answered right now.",
    registers: [registry],
  });

  const maxAgeMs = options.runsActiveMaxAgeMs ?? RUNS_ACTIVE_MAX_AGE_MS;
  const runsActive =
    options.runsActive === undefined
      ? undefined
      : cachedLoad(options.runsActive, maxAgeMs, options.now ?? Date.now);
  new Gauge({
    name: "evt_runs_active",
    help: `Runs in progress: queued (sleeping, retrying or due), due (queued and waiting for a claim: the queue depth) and running (held by a gateway). Shared by every gateway on one run store. Counted at most once per ${maxAgeMs / 1000} s: the value may be up to ${maxAgeMs / 1000} s old.`,
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

  const hooks: EventApiHooks = {
    onRequest({ route, method, status, durationMs }) {
      requestDuration.seriesOf(route, method, status).observe(durationMs / 1000);
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
    runsActive: () => (runsActive === undefined ? Promise.resolve(null) : runsActive()),
    render: () => registry.metrics(),
  };
}

/** One label set of a {@link HotHistogram}: bucket counts (not cumulative), sum and count. */
class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array(bounds.length).fill(0);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram for the per-request path, registered in a prom-client registry and rendered as
 * prom-client renders its own (the same lines, in the same order), but observing costs a
 * bucket search and three additions: prom-client's `observe` (also through `labels()`)
 * validates and hashes the label set on every call, about half a microsecond, three times
 * per event request.
 */
class HotHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #series = new Map<string, HistogramSeries>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values, in {@link HotHistogram.labelNames} order. */
  series(values: readonly string[]): HistogramSeries {
    const key = values.join("\u0000");
    let s = this.#series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = values[i]!;
      s = new HistogramSeries(labels, this.bounds);
      this.#series.set(key, s);
    }
    return s;
  }

  /** The series of a request's route, method and status, without building an array. */
  seriesOf(route: string, method: string, status: number): HistogramSeries {
    const s = this.#series.get(`${route}\u0000${method}\u0000${status}`);
    return s ?? this.series([route, method, String(status)]);
  }

  /** What prom-client's Histogram gives the registry to render (labels shared by a series). */
  async getForPromString() {
    const name = this.name;
    const values: {
      labels: Record<string, string | number>;
      sharedLabels: Record<string, string>;
      value: number;
      metricName: string;
      exemplar?: null;
    }[] = [];
    for (const s of this.#series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({
          labels: { le: this.bounds[i]! },
          sharedLabels: s.labels,
          value: acc,
          metricName: `${name}_bucket`,
          exemplar: null,
        });
      }
      values.push(
        {
          labels: { le: "+Inf" },
          sharedLabels: s.labels,
          value: s.count,
          metricName: `${name}_bucket`,
          exemplar: null,
        },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count` },
      );
    }
    return { name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's JSON form: every value with its series' labels merged in. */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  /** Forget every series, as prom-client's `reset()` does. */
  reset(): void {
    this.#series.clear();
  }
}
