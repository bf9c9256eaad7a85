/**
 * Benchmarks of @evt/schema: validating a typical event and a 100-event request, the slow
 * (explaining) path, catalog checks, and ULID generation (fresh and seeded).
 *
 * Run: sh scripts/pnpm.sh --filter @evt/schema run bench
 *
 * Each task runs a batch per iteration and reports items per second twice: per second of
 * process CPU time (what one core sustains, even on a busy shared machine) and per second of
 * wall time (what this run saw, including time the machine gave to other processes).
 */
import { Bench } from "tinybench";
import { monotonicFactory } from "ulid";
import * as z from "zod";
import {
  createUlidFactory,
  defineEvents,
  deriveEventIds,
  eventByteLength,
  parseEvent,
  parseEventIdSeed,
  parseEvents,
} from "../src/index";

const receivedAt = Date.UTC(2025, 0, 1);

/** A typical event: about 200 bytes of JSON. */
const typical = {
  name: "app/user.signup",
  data: { userId: "u_01HF7YAT00000G40R40M30", plan: "pro", trial: true, seats: 5, ref: "mail" },
  user: { email: "ada@example.com" },
  id: "signup-u_01HF7YAT00000G40R40M30",
  ts: 1735689600000,
};
const request100 = JSON.parse(
  JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ ...typical, id: `${typical.id}-${i}` }))),
);
const invalid = { ...typical, ts: 1735689600 };
const catalog = defineEvents({
  "app/user.signup": z.object({
    userId: z.string(),
    plan: z.enum(["free", "pro"]),
    seats: z.number(),
  }),
});

const fresh = createUlidFactory();
const ulidMonotonic = monotonicFactory();
const seed = parseEventIdSeed("1735689600000,AAECAwQFBgcICQ==")!;

let sink: unknown;
const tasks: [name: string, items: number, fn: () => void][] = [
  [
    "parseEvent: typical event",
    1000,
    () => {
      for (let i = 0; i < 1000; i++) sink = parseEvent(typical, { receivedAt });
    },
  ],
  [
    "parseEvents: 100-event request",
    1000,
    () => {
      for (let i = 0; i < 10; i++) sink = parseEvents(request100, { receivedAt });
    },
  ],
  [
    "parseEvent: invalid event (slow path, zod)",
    100,
    () => {
      for (let i = 0; i < 100; i++) sink = parseEvent(invalid, { receivedAt });
    },
  ],
  [
    "parseEvent: typical event + catalog (zod)",
    1000,
    () => {
      for (let i = 0; i < 1000; i++) sink = parseEvent(typical, { receivedAt, catalog });
    },
  ],
  [
    "createUlidFactory(): fresh ULID",
    10000,
    () => {
      for (let i = 0; i < 10000; i++) sink = fresh();
    },
  ],
  [
    "ulid monotonicFactory() (reference)",
    1000,
    () => {
      for (let i = 0; i < 1000; i++) sink = ulidMonotonic();
    },
  ],
  [
    "deriveEventIds: seeded ULIDs, 100 per call",
    1000,
    () => {
      for (let i = 0; i < 10; i++) sink = deriveEventIds(seed, 100);
    },
  ],
];

/** Process CPU time in ms (user + system). */
function cpuNow(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

async function measure(now?: () => number): Promise<number[]> {
  const bench = new Bench({ time: 1000, warmup: true, ...(now ? { now } : {}) });
  for (const [name, , fn] of tasks) bench.add(name, fn);
  await bench.run();
  return bench.tasks.map((task, i) => {
    const result = task.result as { throughput?: { mean: number } } | undefined;
    return (result?.throughput?.mean ?? 0) * tasks[i]![1];
  });
}

const cpu = await measure(cpuNow);
const wall = await measure();
const format = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`typical event: ${eventByteLength(typical)} bytes of JSON; node ${process.version}`);
console.table(
  tasks.map(([name], i) => ({
    task: name,
    "items/s (CPU time)": format(cpu[i]!),
    "items/s (wall time)": format(wall[i]!),
  })),
);
void sink;
