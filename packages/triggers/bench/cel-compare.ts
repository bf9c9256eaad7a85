/**
 * The two maintained CEL libraries side by side, for the choice recorded in the README:
 * conformance on the google/cel-spec suites (the test data `@bufbuild/cel-spec` ships) and speed
 * on trigger-like expressions, each library with its default environment.
 *
 * Run: sh scripts/pnpm.sh --filter @evt/triggers exec node --import tsx bench/cel-compare.ts
 *
 * Conformance runs each test whose inputs and expected value are plain CEL values (no protobuf
 * messages, no `container`, no type values); a test passes when the value matches exactly (type
 * included: int 1 is not double 1.0) or an error was expected and raised. Both libraries go
 * through this same harness, so the figures differ from bufbuild's own runner.
 */
import {
  celEnv,
  celUint,
  isCelError,
  isCelList,
  isCelMap,
  isCelUint,
  parse,
  plan,
} from "@bufbuild/cel";
import { tests } from "@bufbuild/cel-spec/testdata/conformance.js";
import { Environment, UnsignedInt } from "@marcbachmann/cel-js/evaluator";

type Json = Record<string, unknown>;
const SKIP = Symbol("skip");

// ---- expected values (protobuf JSON of cel.expr.Value) to each library's input -------------
function fromValue(v: Json, lib: "mb" | "buf"): unknown {
  if ("int64Value" in v) return BigInt(v.int64Value as string);
  if ("uint64Value" in v)
    return lib === "mb"
      ? new UnsignedInt(BigInt(v.uint64Value as string))
      : celUint(BigInt(v.uint64Value as string));
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("nullValue" in v) return null;
  if ("bytesValue" in v) return new Uint8Array(Buffer.from(v.bytesValue as string, "base64"));
  if ("listValue" in v)
    return (((v.listValue as Json).values as Json[] | undefined) ?? []).map((x) =>
      fromValue(x, lib),
    );
  if ("mapValue" in v) {
    const m = new Map<unknown, unknown>();
    for (const e of ((v.mapValue as Json).entries as Json[] | undefined) ?? [])
      m.set(fromValue(e.key as Json, lib), fromValue(e.value as Json, lib));
    return m;
  }
  throw SKIP; // objectValue, typeValue, enumValue: not plain
}

function norm(v: unknown): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return `b:${v}`;
    case "bigint":
      return `i:${v}`;
    case "number":
      return `d:${Object.is(v, -0) ? "0" : String(v)}`;
    case "string":
      return `s:${JSON.stringify(v)}`;
  }
  if (v instanceof Uint8Array) return `y:${Buffer.from(v).toString("hex")}`;
  if (v instanceof UnsignedInt) return `u:${(v as unknown as { value: bigint }).value}`;
  if (isCelUint(v)) return `u:${v.value}`;
  if (Array.isArray(v) || isCelList(v))
    return `[${[...(v as Iterable<unknown>)].map(norm).join(",")}]`;
  if (v instanceof Map || isCelMap(v)) {
    return `{${[...(v as Map<unknown, unknown>)]
      .map(([k, x]) => `${norm(k)}=${norm(x)}`)
      .sort()
      .join(",")}}`;
  }
  if (typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    return `{${Object.entries(v)
      .map(([k, x]) => `${norm(k)}=${norm(x)}`)
      .sort()
      .join(",")}}`;
  }
  return `?${Object.prototype.toString.call(v)}`;
}

interface Case {
  suite: string;
  expr: string;
  bindings: Record<string, Json>;
  expected: Json | "error";
}

function collect(): Case[] {
  const out: Case[] = [];
  const walk = (
    s: { name: string; suites?: unknown[]; tests?: { original: Json }[] },
    top: string,
  ) => {
    for (const t of s.tests ?? []) {
      const o = t.original;
      if (o.container || o.checkOnly || o.disableMacros) continue;
      const expected = o.evalError ? "error" : (o.value as Json | undefined);
      if (expected === undefined) continue;
      out.push({
        suite: top,
        expr: o.expr as string,
        bindings: (o.bindings as Record<string, Json>) ?? {},
        expected,
      });
    }
    for (const c of (s.suites ?? []) as (typeof s)[]) walk(c, top || c.name);
  };
  for (const suite of tests.suites ?? []) walk(suite as never, suite.name);
  return out;
}

function bindingsFor(c: Case, lib: "mb" | "buf"): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, b] of Object.entries(c.bindings)) {
    if (!("value" in b)) throw SKIP;
    out[k] = fromValue(b.value as Json, lib);
  }
  return out;
}

const mbEnv = new Environment({ unlistedVariablesAreDyn: true });
const bufEnv = celEnv();

function runMb(c: Case): unknown {
  const b = bindingsFor(c, "mb");
  try {
    return mbEnv.evaluate(c.expr, b);
  } catch {
    return SKIP_ERROR;
  }
}
const SKIP_ERROR = Symbol("error");
function runBuf(c: Case): unknown {
  const b = bindingsFor(c, "buf");
  try {
    const r = plan(bufEnv, parse(c.expr))(b as never);
    return isCelError(r) ? SKIP_ERROR : r;
  } catch {
    return SKIP_ERROR;
  }
}

function passes(c: Case, got: unknown, lib: "mb" | "buf"): boolean {
  if (c.expected === "error") return got === SKIP_ERROR;
  if (got === SKIP_ERROR) return false;
  return norm(got) === norm(fromValue(c.expected, lib));
}

const core = new Set([
  "basic",
  "comparisons",
  "conversions",
  "fields",
  "fp_math",
  "integer_math",
  "lists",
  "logic",
  "macros",
  "parse",
  "plumbing",
  "string",
  "timestamps",
]);
const rows = new Map<string, { n: number; mb: number; buf: number }>();
let skipped = 0;
for (const c of collect()) {
  let ok: [boolean, boolean];
  try {
    fromValue(c.expected === "error" ? { nullValue: null } : c.expected, "mb");
    bindingsFor(c, "mb");
    ok = [passes(c, runMb(c), "mb"), passes(c, runBuf(c), "buf")];
  } catch (err) {
    if (err === SKIP) {
      skipped++;
      continue;
    }
    throw err;
  }
  const key = core.has(c.suite) ? c.suite : "extensions and others";
  const r = rows.get(key) ?? { n: 0, mb: 0, buf: 0 };
  r.n++;
  if (ok[0]) r.mb++;
  if (ok[1]) r.buf++;
  rows.set(key, r);
}
console.log(
  `conformance (google/cel-spec via @bufbuild/cel-spec; ${skipped} tests skipped as not plain values)`,
);
console.log(
  `${"suite".padEnd(24)} ${"tests".padStart(6)} ${"cel-js".padStart(8)} ${"bufbuild".padStart(9)}`,
);
const total = { n: 0, mb: 0, buf: 0 };
for (const [k, r] of [...rows].sort()) {
  console.log(
    `${k.padEnd(24)} ${String(r.n).padStart(6)} ${String(r.mb).padStart(8)} ${String(r.buf).padStart(9)}`,
  );
  if (k !== "extensions and others") {
    total.n += r.n;
    total.mb += r.mb;
    total.buf += r.buf;
  }
}
console.log(
  `${"core total".padEnd(24)} ${String(total.n).padStart(6)} ${String(total.mb).padStart(8)} ${String(total.buf).padStart(9)}\n`,
);

// ---- speed ---------------------------------------------------------------------------------
function cpuNs(fn: () => void, n: number): number {
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const u = process.cpuUsage(t);
  return ((u.user + u.system) * 1000) / n;
}
const event = {
  name: "shop/order.created",
  data: { billingPlan: "enterprise", amount: 5000, email: "ann@example.com", tags: ["vip", "eu"] },
};
const exprs = [
  "event.data.billingPlan == 'enterprise' && event.data.amount > 1000",
  "event.data.email.endsWith('@example.com') || 'vip' in event.data.tags",
];
console.log("speed (CPU time of this process; the machine is shared with other work)");
for (const src of exprs) {
  const mb = mbEnv.parse(src);
  mb.check();
  const bp = plan(bufEnv, parse(src));
  if (mb({ event }) !== true || bp({ event } as never) !== true)
    throw new Error(`${src} is not true`);
  const n = 200_000;
  cpuNs(() => mb({ event }), 20_000);
  cpuNs(() => bp({ event } as never), 20_000);
  console.log(
    `  eval  ${src}\n        cel-js ${cpuNs(() => mb({ event }), n).toFixed(0)} ns   bufbuild ${cpuNs(() => bp({ event } as never), n).toFixed(0)} ns`,
  );
}
let i = 0;
const compileMb = cpuNs(
  () => mbEnv.parse(`event.data.plan == 'p${i++}' && event.data.amount > ${i}`).check(),
  5000,
);
const compileBuf = cpuNs(
  () => plan(bufEnv, parse(`event.data.plan == 'p${i++}' && event.data.amount > ${i}`)),
  5000,
);
console.log(
  `  compile (parse + check / parse + plan), per expression: cel-js ${(compileMb / 1000).toFixed(1)} µs   bufbuild ${(compileBuf / 1000).toFixed(1)} µs`,
);
