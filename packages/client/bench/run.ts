/**
 * Batcher CPU overhead per add(), with a fetch that answers instantly (no network), so the
 * figure is the client's own cost: validation, ts, serialization, batching, promise settling.
 *
 *   sh scripts/pnpm.sh --filter @evt/client run bench
 */
import { EventClient } from "../src/index";

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
  "us/add (total)": string;
  "us/add (CPU)": string;
  "adds/s": string;
}

async function measureBatcher(
  label: string,
  n: number,
  make: (i: number) => Parameters<typeof evt.send>[0] & object,
  maxQueuedEvents = n,
): Promise<Row> {
  const batcher = evt.batcher({ maxEvents: 500, flushIntervalMs: 1000, maxQueuedEvents });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pending: Promise<string>[] = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = batcher.add(make(i) as never);
  await batcher.close();
  await Promise.all(pending);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  return {
    case: label,
    events: n,
    "us/add (total)": ((ms * 1000) / n).toFixed(2),
    "us/add (CPU)": (cpuUs / n).toFixed(2),
    "adds/s": Math.round(n / (ms / 1000)).toLocaleString("en-US"),
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

// send() of one array, for comparison (same instant fetch).
const sendRows: Row[] = [];
for (let round = 0; round < 3; round++) {
  const events = Array.from({ length: 100_000 }, (_, i) => small(i));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await evt.send(events);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  sendRows.push({
    case: "send([100k small])",
    events: events.length,
    "us/add (total)": ((ms * 1000) / events.length).toFixed(2),
    "us/add (CPU)": ((cpu.user + cpu.system) / events.length).toFixed(2),
    "adds/s": Math.round(events.length / (ms / 1000)).toLocaleString("en-US"),
  });
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
console.table([...rows, ...sendRows]);
