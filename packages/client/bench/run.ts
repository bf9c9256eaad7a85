/**
 * Batcher CPU overhead per add(), with a fetch that answers instantly (no network), so the
 * figure is the client's own cost: validation, ts, serialization, batching, promise settling.
 *
 *   sh scripts/pnpm.sh --filter @evt/client run bench
 */
import { EventClient } from "../src/index";
import { prepareEvent } from "../src/prepare";

// Answers at once with a prebuilt body for the batch size; counting the events is the only
// per-request work, so the figures are the client's own cost.
const answers = new Map<number, string>();
function answerFor(count: number): string {
  let body = answers.get(count);
  if (body === undefined) {
    const ids = Array.from(
      { length: count },
      (_, i) => `01JD0000000000000000${String(i).padStart(6, "0")}`,
    );
    body = JSON.stringify({ ids, status: 200 });
    answers.set(count, body);
  }
  return body;
}
const instantFetch: typeof fetch = async (_url, init) => {
  const body = String(init?.body);
  let count = 0;
  for (let at = body.indexOf('{"name":'); at !== -1; at = body.indexOf('{"name":', at + 8)) count++;
  return new Response(answerFor(count), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
};

const evt = new EventClient({
  baseUrl: "http://127.0.0.1:8288",
  eventKey: "bench",
  fetch: instantFetch,
});

interface Row {
  case: string;
  events: number;
  "add() call, us CPU": string;
  "end to end, us CPU/event": string;
  "events/s (wall)": string;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * n synchronous add() calls, then close(). "add() call" is the CPU the caller's loop spends in
 * add() (validation, ts, serialization, queueing); "end to end" adds the background work:
 * request bodies, answer parsing, settling every add() promise.
 */
async function measureBatcher(
  label: string,
  n: number,
  make: (i: number) => Parameters<typeof evt.send>[0] & object,
  maxQueuedEvents = n,
): Promise<Row> {
  const inputs = Array.from({ length: n }, (_, i) => make(i));
  const batcher = evt.batcher({ maxEvents: 500, flushIntervalMs: 1000, maxQueuedEvents });
  const pending: Promise<string>[] = new Array(n);
  const t0 = performance.now();
  const c0 = cpuNow();
  for (let i = 0; i < n; i++) pending[i] = batcher.add(inputs[i] as never);
  const c1 = cpuNow();
  await batcher.close();
  await Promise.all(pending);
  const c2 = cpuNow();
  const ms = performance.now() - t0;
  return {
    case: label,
    events: n,
    "add() call, us CPU": ((c1 - c0) / n).toFixed(2),
    "end to end, us CPU/event": ((c2 - c0) / n).toFixed(2),
    "events/s (wall)": Math.round(n / (ms / 1000)).toLocaleString("en-US"),
  };
}

const small = (i: number) => ({ name: "app/page.viewed", data: { path: "/home", i } });
const medium = (i: number) => ({
  name: "app/order.placed",
  data: {
    orderId: `o-${i}`,
    total: 42.5,
    items: [
      { sku: "a1", qty: 2 },
      { sku: "b7", qty: 1 },
    ],
    customer: { id: "c1", email: "a@b.c" },
  },
  user: { id: "u1" },
});

// Warm up the JIT, then measure.
await measureBatcher("warm-up", 50_000, small);
const rows: Row[] = [];
for (let round = 0; round < 3; round++) {
  rows.push(await measureBatcher("add, small event (~70 B)", 100_000, small));
  rows.push(await measureBatcher("add, medium event (~250 B)", 100_000, medium));
  // 100k synchronous adds into a 10k queue: 90% of them wait for room (onFull: "wait").
  rows.push(await measureBatcher("add, small, queue full", 100_000, small, 10_000));
}

// The floor of add(): what validation (@evt/schema parseEvent) and serialization alone cost.
const floorRows: Row[] = [];
for (const [label, make] of [
  ["floor: validate + serialize, small", small],
  ["floor: validate + serialize, medium", medium],
] as const) {
  const inputs = Array.from({ length: 100_000 }, (_, i) => make(i));
  const c0 = cpuNow();
  for (let i = 0; i < inputs.length; i++) prepareEvent(inputs[i], 0, Date.now(), undefined);
  const c1 = cpuNow();
  floorRows.push({
    case: label,
    events: inputs.length,
    "add() call, us CPU": ((c1 - c0) / inputs.length).toFixed(2),
    "end to end, us CPU/event": "-",
    "events/s (wall)": "-",
  });
}

// send() of one array, for comparison (same instant fetch).
const sendRows: Row[] = [];
for (let round = 0; round < 3; round++) {
  const events = Array.from({ length: 100_000 }, (_, i) => small(i));
  const t0 = performance.now();
  const c0 = cpuNow();
  await evt.send(events);
  const c1 = cpuNow();
  const ms = performance.now() - t0;
  sendRows.push({
    case: "send([100k small])",
    events: events.length,
    "add() call, us CPU": "-",
    "end to end, us CPU/event": ((c1 - c0) / events.length).toFixed(2),
    "events/s (wall)": Math.round(events.length / (ms / 1000)).toLocaleString("en-US"),
  });
}

const { loadavg, cpus } = await import("node:os");
console.log(
  `node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.table([...rows, ...floorRows, ...sendRows]);
