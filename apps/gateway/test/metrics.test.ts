import type { RouteName } from "@evt/server";
import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics, LATENCY_BUCKETS } from "../src/metrics";

/** The same observations, through prom-client's own Histogram, for comparison. */
function reference() {
  const registry = new Registry();
  const make = (name: string, help: string, labelNames: string[]) =>
    new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [registry] });
  return {
    registry,
    request: make(
      "evt_http_request_duration_seconds",
      "Time to answer a request, by route template, method and status.",
      ["route", "method", "status"],
    ),
    dedup: make(
      "evt_dedup_duration_seconds",
      "Duration of the dedup store claim of one ingest request.",
      [],
    ),
    store: make(
      "evt_store_duration_seconds",
      "Duration of the event store calls of one ingest request.",
      [],
    ),
  };
}

const NAMES = [
  "evt_http_request_duration_seconds",
  "evt_dedup_duration_seconds",
  "evt_store_duration_seconds",
];

describe("request latency histograms", () => {
  it("render exactly as prom-client's Histogram with the same observations", async () => {
    const metrics = createMetrics();
    const ref = reference();
    // Durations on bucket bounds, between them, past the last one, and zero.
    const ms = [0, 0.5, 0.5001, 1, 2.4, 7, 10, 49.9, 250, 1000, 2500, 9999, 10_000, 10_001, 60_000];
    const requests: { route: RouteName; method: string; status: number }[] = [
      { route: "/e/:eventKey", method: "POST", status: 200 },
      { route: "/e/:eventKey", method: "POST", status: 400 },
      { route: "/health", method: "GET", status: 200 },
      { route: "unknown", method: "DELETE", status: 404 },
    ];
    for (const [i, durationMs] of ms.entries()) {
      const r = requests[i % requests.length]!;
      metrics.hooks.onRequest?.({ ...r, durationMs });
      ref.request.observe({ ...r, status: String(r.status) }, durationMs / 1000);
      metrics.hooks.onDedup?.(durationMs);
      ref.dedup.observe(durationMs / 1000);
      if (i % 3 === 0) {
        metrics.hooks.onStore?.(durationMs);
        ref.store.observe(durationMs / 1000);
      }
    }
    for (const name of NAMES) {
      const ours = await metrics.registry.getSingleMetricAsString(name);
      expect(ours).toBe(await ref.registry.getSingleMetricAsString(name));
    }
    const json = (await metrics.registry.getMetricsAsJSON()).filter((m) => NAMES.includes(m.name));
    expect(json).toEqual(await ref.registry.getMetricsAsJSON());
    // The series are in the whole exposition too, and a reset empties them as prom-client's does.
    const text = await metrics.render();
    expect(text).toMatch(
      /^evt_http_request_duration_seconds_count\{route="\/e\/:eventKey",method="POST",status="200"\} 4$/m,
    );
    metrics.registry.resetMetrics();
    ref.registry.resetMetrics();
    for (const name of NAMES) {
      expect(await metrics.registry.getSingleMetricAsString(name)).toBe(
        await ref.registry.getSingleMetricAsString(name),
      );
    }
  });
});
