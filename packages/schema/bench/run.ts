/**
 * Benchmarks of @evt/schema: validation of a typical event and request, and ULID generation.
 * Run: sh scripts/pnpm.sh --filter @evt/schema run bench
 */
import { Bench } from "tinybench";
import { monotonicFactory } from "ulid";
import {
  createUlidFactory,
  deriveEventIds,
  eventByteLength,
  parseEvent,
  parseEventIdSeed,
  parseEvents,
} from "../src/index";

const receivedAt = Date.UTC(2025, 0, 1);

/** A typical event: ~200 bytes of JSON. */
const typical = {
  name: "app/user.signup",
  data: {
    userId: "u_01HF7YAT00000G40R40M30",
    plan: "pro",
    trial: true,
    seats: 5,
    referrer: "newsletter",
  },
  user: { email: "ada@example.com" },
  id: "signup-u_01HF7YAT00000G40R40M30",
  ts: 1735689600000,
};
const request100 = Array.from({ length: 100 }, (_, i) => ({
  ...typical,
  id: `${typical.id}-${i}`,
  data: { ...typical.data, seats: i },
}));
const invalid = { name: "app/user.signup", data: { userId: "u1" }, ts: 1735689600 };

const fresh = createUlidFactory();
const ulidMonotonic = monotonicFactory();
const seed = parseEventIdSeed("1735689600000,AAECAwQFBgcICQ==")!;

const bench = new Bench({ time: 1500, warmup: true });
bench
  .add("parseEvent: typical valid event", () => {
    parseEvent(typical, { receivedAt });
  })
  .add("parseEvents: 100-event request (per request)", () => {
    parseEvents(request100, { receivedAt });
  })
  .add("parseEvent: invalid event (ts in seconds, slow path)", () => {
    parseEvent(invalid, { receivedAt });
  })
  .add("createUlidFactory(): fresh ULID", () => {
    fresh();
  })
  .add("ulid monotonicFactory(): fresh ULID (reference)", () => {
    ulidMonotonic();
  })
  .add("deriveEventIds: 100 seeded ULIDs (per call)", () => {
    deriveEventIds(seed, 100);
  });

await bench.run();

console.log(`typical event: ${eventByteLength(typical)} bytes of JSON`);
const rows = bench.tasks.map((task) => {
  const result = task.result as { throughput?: { mean: number }; hz?: number } | undefined;
  const perSecond = result?.throughput?.mean ?? result?.hz ?? 0;
  const items = task.name.includes("100") ? 100 : 1;
  return {
    task: task.name,
    "ops/s": Math.round(perSecond).toLocaleString("en-US"),
    "items/s": Math.round(perSecond * items).toLocaleString("en-US"),
  };
});
console.table(rows);
