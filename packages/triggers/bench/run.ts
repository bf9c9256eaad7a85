/**
 * Benchmarks of @evt/triggers: the four figures of issue 11.
 *
 *  1. 10,000 functions on one event name with distinct equality filters: match per event.
 *  2. 100,000 functions on distinct names, a quarter of them wildcards: match per event.
 *  3. Building the index for 100,000 functions (plain triggers; and with one filter each).
 *  4. The slow path: 1,000 functions whose filters the index cannot use, on one name.
 *
 * Run: sh scripts/pnpm.sh --filter @evt/triggers run bench   (EVT_BENCH_MS: time per case, default 1500)
 *
 * Each case reports microseconds per event twice: per CPU time of this process (what one core
 * sustains, even on a machine busy with other work) and per wall time (what this run saw).
 */
import {
  createTriggerIndex,
  type FunctionDefinition,
  type TriggerEvent,
  type TriggerIndex,
} from "../src/index";

const caseMs = Number(process.env.EVT_BENCH_MS ?? 1500);
const gc = (globalThis as { gc?: () => void }).gc;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(
  label: string,
  index: TriggerIndex,
  events: TriggerEvent[],
  expect: (n: number) => boolean,
) {
  // warm up, and check the answers are what the case means
  for (let i = 0; i < Math.min(events.length, 20_000); i++) {
    const n = index.match(events[i]!).length;
    if (!expect(n)) throw new Error(`${label}: event ${i} matched ${n} functions`);
  }
  const before = index.stats().evaluations;
  let count = 0;
  const wall0 = performance.now();
  const cpu0 = cpuMs();
  while (performance.now() - wall0 < caseMs) {
    for (let i = 0; i < 1000; i++) index.match(events[(count + i) % events.length]!);
    count += 1000;
  }
  const wall = performance.now() - wall0;
  const cpu = cpuMs() - cpu0;
  const evals = (index.stats().evaluations - before) / count;
  console.log(
    `${label.padEnd(58)} ${((cpu * 1000) / count).toFixed(2).padStart(8)} µs/event CPU ${((wall * 1000) / count).toFixed(2).padStart(8)} µs/event wall   ${evals.toFixed(2)} CEL evals/event  (${count} events)`,
  );
}

function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

function build(label: string, make: () => FunctionDefinition[]): TriggerIndex {
  const defs = make();
  const heap0 = heapMb();
  const rss0 = process.memoryUsage().rss / 1e6;
  const wall0 = performance.now();
  const cpu0 = cpuMs();
  const index = createTriggerIndex(defs);
  const cpu = cpuMs() - cpu0;
  const wall = performance.now() - wall0;
  const heap = heapMb() - heap0;
  const rss = process.memoryUsage().rss / 1e6 - rss0;
  console.log(
    `${label.padEnd(58)} ${(cpu / 1000).toFixed(2).padStart(8)} s CPU ${(wall / 1000).toFixed(2).padStart(8)} s wall   heap +${heap.toFixed(0)} MB (rss +${rss.toFixed(0)} MB)${gc ? "" : " (run with --expose-gc for a settled heap figure)"}`,
  );
  return index;
}

// Deterministic pseudo-random order of events.
let seed = 42;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

console.log(`node ${process.version}, ${caseMs} ms per case\n`);

// 1. 10,000 equality filters on one name
{
  const n = 10_000;
  const index = createTriggerIndex(
    Array.from({ length: n }, (_, i) => ({
      id: `shop-${i}`,
      triggers: [{ event: "shop/order.created", expression: `event.data.shop == "shop-${i}"` }],
    })),
  );
  const events = Array.from({ length: 4096 }, () => ({
    name: "shop/order.created",
    data: { shop: `shop-${rand(n)}`, amount: 1200, currency: "EUR", items: [{ sku: "a", qty: 1 }] },
  }));
  measure("1. 10,000 equality filters on one name (target <= 5 µs)", index, events, (m) => m === 1);
  // the same, each filter with a second condition: the hash finds the one candidate, CEL confirms
  const confirmed = createTriggerIndex(
    Array.from({ length: n }, (_, i) => ({
      id: `shop-${i}`,
      triggers: [
        {
          event: "shop/order.created",
          expression: `event.data.shop == "shop-${i}" && event.data.amount > 100`,
        },
      ],
    })),
  );
  measure(
    "1b. the same with `&& event.data.amount > 100` (CEL confirms)",
    confirmed,
    events,
    (m) => m === 1,
  );
}

// 2 and 3. 100,000 functions on distinct names, a quarter wildcards
function distinctNames(): FunctionDefinition[] {
  return Array.from({ length: 100_000 }, (_, i) => {
    const app = `app${Math.floor(i / 4)}`;
    // every fourth function is a wildcard, alternately `appN/*` and `appN/thing.*`
    const event =
      i % 4 === 3 ? (i % 8 === 3 ? `${app}/*` : `${app}/thing.*`) : `${app}/thing.created${i % 4}`;
    return { id: `fn-${i}`, triggers: [{ event }] };
  });
}
const names = build("3a. build: 100,000 functions, 25% wildcards (target < 2 s)", distinctNames);
{
  const events = Array.from({ length: 4096 }, () => {
    const i = rand(100_000);
    return { name: `app${Math.floor(i / 4)}/thing.created${i % 4}`, data: { id: i } };
  });
  // `appN/thing.createdK` matches its exact function, and the wildcard of its app
  measure(
    "2. 100,000 distinct names, 25% wildcards (target <= 2 µs)",
    names,
    events,
    (m) => m >= 1 && m <= 2,
  );
  // The floor on this machine: the same hash lookups on a bare Map of the same 100,000 names
  // (the exact name, and each "/"- or "."-prefix), without the index.
  {
    const map = new Map<string, number>();
    for (const d of distinctNames())
      map.set((d.triggers[0] as { event: string }).event.replace(/\*$/, ""), 1);
    let count = 0;
    let sink = 0;
    const wall0 = performance.now();
    const cpu0 = cpuMs();
    while (performance.now() - wall0 < caseMs) {
      for (let k = 0; k < 1000; k++) {
        const name = events[(count + k) % events.length]!.name;
        sink += map.get(name) ?? 0;
        for (let i = 0; i < name.length; i++) {
          const c = name.charCodeAt(i);
          if (c === 47 || c === 46) sink += map.get(name.slice(0, i + 1)) ?? 0;
        }
      }
      count += 1000;
    }
    const cpu = cpuMs() - cpu0;
    console.log(
      `${"2f. floor: the same lookups in a bare Map, no index".padEnd(58)} ${((cpu * 1000) / count).toFixed(2).padStart(8)} µs/event CPU ${(((performance.now() - wall0) * 1000) / count).toFixed(2).padStart(8)} µs/event wall   (${sink > 0 ? count : 0} events)`,
    );
  }
  // Real traffic has hot names: the same index, events spread over 1,000 of its names.
  const hot = Array.from({ length: 4096 }, () => {
    const i = rand(1000) * 100;
    return { name: `app${Math.floor(i / 4)}/thing.created${i % 4}`, data: { id: i } };
  });
  measure("2h. same index, events over 1,000 hot names", names, hot, (m) => m >= 1 && m <= 2);
  const misses = Array.from({ length: 4096 }, (_, i) => ({
    name: `other${i}/thing.created`,
    data: {},
  }));
  measure("2b. same index, events no function wants", names, misses, (m) => m === 0);
}
build("3b. build: 100,000 functions with one equality filter each", () =>
  Array.from({ length: 100_000 }, (_, i) => ({
    id: `fn-${i}`,
    triggers: [
      { event: `app${i % 100}/order.created`, expression: `event.data.shop == "shop-${i}"` },
    ],
  })),
);

// 4. the slow path
{
  const n = 1000;
  const index = createTriggerIndex(
    Array.from({ length: n }, (_, i) => ({
      id: `slow-${i}`,
      triggers: [
        { event: "shop/order.created", expression: `event.data.shop.startsWith("shop-${i}-")` },
      ],
    })),
  );
  if (index.stats().fallbackExpressions !== n) throw new Error("slow path: filters were indexed");
  const events = Array.from({ length: 1024 }, () => ({
    name: "shop/order.created",
    data: { shop: `shop-${rand(n)}-eu`, amount: 1200 },
  }));
  measure("4. slow path: 1,000 filters the index cannot use", index, events, (m) => m === 1);
}
