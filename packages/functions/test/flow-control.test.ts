import {
  type AppRecord,
  createDispatcher,
  createMemoryRunStore,
  durationMs,
  flowControlIssues,
  type JsonValue,
  parseRegisterBody,
  type RunStore,
  unsupportedFeatures,
} from "@evt/functions";
import type { StoredEvent } from "@evt/schema";
import { beforeEach, describe, expect, it } from "vitest";

const T0 = Date.UTC(2030, 0, 1);
const app: AppRecord = {
  url: "http://127.0.0.1:3000/api/inngest",
  appId: "shop",
  sdk: "js:v4.24.0",
  framework: "nodejs",
  syncedAt: T0,
  lastError: null,
};

let seq = 0;
function event(data: Record<string, unknown> = {}, ts = T0): StoredEvent {
  seq++;
  return {
    internal_id: `01J0000000000000000000${String(seq).padStart(4, "0")}`,
    id: null,
    name: "shop/order",
    data,
    user: null,
    ts,
    v: null,
    env: "production",
    received_at: T0,
    source: null,
    source_id: null,
  };
}

let runs: RunStore;
let now = T0;
beforeEach(() => {
  runs = createMemoryRunStore();
  now = T0;
});

async function dispatcherWith(config: Record<string, JsonValue>) {
  await runs.syncApp(app, [
    {
      id: "shop-f",
      name: "f",
      config: { triggers: [{ event: "shop/order" }], ...config },
      stepUrl: `${app.url}?fnId=shop-f&stepId=step`,
    },
  ]);
  const errors: string[] = [];
  const skipped: string[] = [];
  const d = createDispatcher({
    runs,
    now: () => now,
    onKeyError: (info) => errors.push(`${info.kind}: ${info.error.message}`),
    onRunSkipped: (id, reason) => skipped.push(`${id} ${reason}`),
  });
  await d.refresh();
  return { d, errors, skipped };
}

describe("priority", () => {
  it("moves a run due now ahead by its factor (clamped to ±600 s); a negative one delays it; a failure is factor 0, told", async () => {
    const { d, errors } = await dispatcherWith({
      priority: { run: "event.data.p" },
    });
    const due = async (data: Record<string, unknown>, ts = T0) =>
      (await d.dispatch("production", [event(data, ts)])).created[0]!.dueAt;
    expect(await due({ p: 120 })).toBe(T0 - 120_000);
    expect(await due({ p: 5000 })).toBe(T0 - 600_000);
    expect(await due({ p: -30 })).toBe(T0 + 30_000);
    expect(await due({ p: -5000 })).toBe(T0 + 600_000);
    expect(await due({})).toBe(T0);
    expect(errors).toEqual([]);
    expect(await due({ p: "high" })).toBe(T0);
    expect(await due({ p: 1.5 })).toBe(T0);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^priority: priority.run must return a whole number/);
    // A run due later (a future ts) never starts before it is due.
    expect(await due({ p: 120 }, T0 + 60_000)).toBe(T0 + 60_000);
  });

  it("claims the high-priority run of a backlog first", async () => {
    const { d } = await dispatcherWith({ priority: { run: "event.data.vip ? 300 : 0" } });
    const low = [event({}), event({})];
    await d.dispatch("production", low);
    now = T0 + 10_000;
    const vip = event({ vip: true });
    await d.dispatch("production", [vip]);
    const [first] = await runs.claimDue(now, "w", 30_000, 1);
    expect(first!.eventInternalId).toBe(vip.internal_id);
  });
});

describe("rateLimit", () => {
  it("starts at most `limit` runs per period; the others are skipped and told", async () => {
    const { d, skipped } = await dispatcherWith({ rateLimit: { limit: 2, period: "1m" } });
    const events = Array.from({ length: 5 }, () => event({}));
    const result = await d.dispatch("production", events);
    expect(result.created).toHaveLength(2);
    expect(result.skipped).toEqual(["shop-f", "shop-f", "shop-f"]);
    expect(skipped).toEqual(Array(3).fill("shop-f rate_limit"));
    // The same events again (a retried request) find their runs, start no more.
    const again = await d.dispatch("production", events.slice(0, 2));
    expect(again).toMatchObject({ created: [], existing: 2 });
    now = T0 + 60_001;
    expect((await d.dispatch("production", [event({})])).created).toHaveLength(1);
  });

  it("counts per key value; a failing key counts against the function-wide one", async () => {
    const { d, errors } = await dispatcherWith({
      rateLimit: { limit: 1, period: "30s", key: "event.data.user" },
    });
    const result = await d.dispatch("production", [
      event({ user: "a" }),
      event({ user: "a" }),
      event({ user: "b" }),
      event({ user: "c" }),
      event({ user: "c" }),
    ]);
    expect(result.created).toHaveLength(3);
    expect(result.skipped).toHaveLength(2);
    expect(errors).toEqual([]);
  });
});

describe("throttle", () => {
  it("delays runs over the rate (none skipped), FIFO per key; a key of its own is not held back", async () => {
    const { d } = await dispatcherWith({
      throttle: { limit: 2, period: "2s", key: "event.data.user" },
    });
    const ann = Array.from({ length: 4 }, () => event({ user: "ann" }));
    const result = await d.dispatch("production", [...ann, event({ user: "bob" })]);
    expect(result.skipped).toEqual([]);
    expect(result.created.map((r) => r.dueAt)).toEqual([T0, T0 + 1000, T0 + 2000, T0 + 3000, T0]);
    // A future event is reserved from when it is due.
    const later = await d.dispatch("production", [event({ user: "cy" }, T0 + 10_000)]);
    expect(later.created[0]!.dueAt).toBe(T0 + 10_000);
  });

  it("lets 1 + burst start at once", async () => {
    const { d } = await dispatcherWith({ throttle: { limit: 1, period: "1m", burst: 2 } });
    const result = await d.dispatch(
      "production",
      Array.from({ length: 4 }, () => event({})),
    );
    expect(result.created.map((r) => r.dueAt)).toEqual([T0, T0, T0, T0 + 60_000]);
  });
});

describe("debounce", () => {
  it("keeps one pending run per key, of the last event, due period after it; the earlier ones are cancelled", async () => {
    const { d } = await dispatcherWith({
      debounce: { period: "1s", key: "event.data.user", timeout: "2s" },
    });
    const first = (await d.dispatch("production", [event({ user: "ann", i: 1 })])).created[0]!;
    expect(first.dueAt).toBe(T0 + 1000);
    now = T0 + 300;
    const second = (await d.dispatch("production", [event({ user: "ann", i: 2 })])).created[0]!;
    expect(second.dueAt).toBe(T0 + 1300);
    expect((await runs.getRun(first.runId))!.status).toBe("cancelled");
    // Another user: a debounce of its own.
    const bob = (await d.dispatch("production", [event({ user: "bob" })])).created[0]!;
    expect(bob.dueAt).toBe(T0 + 1300);
    // At the latest `timeout` after the first event.
    now = T0 + 1200;
    const third = (await d.dispatch("production", [event({ user: "ann", i: 3 })])).created[0]!;
    expect(third.dueAt).toBe(T0 + 2000);
    const claimed = await runs.claimDue(T0 + 5000, "w", 30_000, 10);
    expect(claimed.map((r) => r.runId).sort()).toEqual([third.runId, bob.runId].sort());
  });
});

describe("registration and warnings", () => {
  it("reads Go durations", () => {
    expect(durationMs("1m")).toBe(60_000);
    expect(durationMs("1h30m")).toBe(5_400_000);
    expect(durationMs("500ms")).toBe(500);
    expect(durationMs("30")).toBeNull();
    expect(durationMs("1 minute")).toBeNull();
    expect(durationMs(60)).toBeNull();
  });

  it("refuses hostile priority, rateLimit and throttle shapes, each with its path", () => {
    const at = "functions[0]";
    const paths = (fn: Record<string, unknown>) => flowControlIssues(fn, at).map((i) => i.path);
    expect(paths({ priority: "high" })).toEqual([`${at}.priority`]);
    expect(paths({ priority: { run: 5 } })).toEqual([`${at}.priority.run`]);
    expect(paths({ priority: { run: "event.data.(" } })).toEqual([`${at}.priority.run`]);
    expect(paths({ priority: { run: "a".repeat(20_000) } })).toEqual([`${at}.priority.run`]);
    expect(paths({ rateLimit: [] })).toEqual([`${at}.rateLimit`]);
    expect(paths({ rateLimit: { limit: 0, period: "1m" } })).toEqual([`${at}.rateLimit.limit`]);
    expect(paths({ rateLimit: { limit: 1.5, period: "1m" } })).toEqual([`${at}.rateLimit.limit`]);
    expect(paths({ rateLimit: { limit: "2", period: "1m" } })).toEqual([`${at}.rateLimit.limit`]);
    expect(paths({ rateLimit: { limit: 2, period: "25h" } })).toEqual([`${at}.rateLimit.period`]);
    expect(paths({ rateLimit: { limit: 2, period: "10ms" } })).toEqual([`${at}.rateLimit.period`]);
    expect(paths({ rateLimit: { limit: 2, period: 60 } })).toEqual([`${at}.rateLimit.period`]);
    expect(paths({ rateLimit: { limit: 2, period: "1m", key: "event.(" } })).toEqual([
      `${at}.rateLimit.key`,
    ]);
    expect(paths({ rateLimit: { limit: 2, period: "1m", key: {} } })).toEqual([
      `${at}.rateLimit.key`,
    ]);
    expect(
      paths({
        priority: { run: "event.data.p" },
        rateLimit: { limit: 2, period: "1m", key: "event.data.u" },
      }),
    ).toEqual([]);
    expect(paths({ throttle: 2 })).toEqual([`${at}.throttle`]);
    expect(paths({ throttle: { limit: 0, period: "1s" } })).toEqual([`${at}.throttle.limit`]);
    expect(paths({ throttle: { limit: 1, period: "8d" } })).toEqual([`${at}.throttle.period`]);
    expect(paths({ throttle: { limit: 1, period: "1s", burst: -1 } })).toEqual([
      `${at}.throttle.burst`,
    ]);
    expect(paths({ throttle: { limit: 1, period: "1s", key: "(" } })).toEqual([
      `${at}.throttle.key`,
    ]);
    expect(paths({ throttle: { limit: 1, period: "7d", burst: 3, key: "event.data.u" } })).toEqual(
      [],
    );
    expect(paths({ debounce: "1s" })).toEqual([`${at}.debounce`]);
    expect(paths({ debounce: { period: "0s" } })).toEqual([`${at}.debounce.period`]);
    expect(paths({ debounce: { period: "1s", timeout: "soon" } })).toEqual([
      `${at}.debounce.timeout`,
    ]);
    expect(paths({ debounce: { period: "1s", key: [] } })).toEqual([`${at}.debounce.key`]);
    expect(paths({ debounce: { period: "5m", timeout: "1h", key: "event.data.u" } })).toEqual([]);
    const bad = flowControlIssues({ rateLimit: { limit: 0, period: "1m" } }, at)[0]!;
    expect(bad.message).toBe("must be a whole number from 1 to 100000, got 0");
  });

  it("checks the shapes in /fn/register", () => {
    const body = {
      url: "http://127.0.0.1:3000/api/inngest",
      v: "0.1",
      deployType: "ping",
      sdk: "js:v4.24.0",
      framework: "nodejs",
      appName: "shop",
      functions: [
        {
          id: "shop-f",
          name: "f",
          triggers: [{ event: "shop/order" }],
          rateLimit: { limit: 2, period: "forever" },
          steps: {
            step: {
              id: "step",
              name: "step",
              runtime: { type: "http", url: "http://127.0.0.1:3000/api/inngest?fnId=shop-f" },
            },
          },
        },
      ],
    };
    const result = parseRegisterBody(body, T0);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((i) => i.path)).toEqual(["functions[0].rateLimit.period"]);
    }
  });

  it("no longer warns about priority, rateLimit, throttle and debounce", () => {
    expect(
      unsupportedFeatures({
        priority: { run: "1" },
        rateLimit: { limit: 1, period: "1m" },
        throttle: { limit: 1, period: "1m" },
        debounce: { period: "1s" },
      }),
    ).toEqual([]);
  });
});
