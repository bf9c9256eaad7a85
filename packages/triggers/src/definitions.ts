import { z } from "zod";
import { type CompiledExpression, compileExpression } from "./cel";
import { type ParsedCron, parseCron, parseJitter } from "./cron";
import type { TriggerIssue } from "./errors";
import { patternProblem } from "./pattern";

/** The most triggers one function may have (Inngest's `MaxTriggers`). */
export const MAX_TRIGGERS = 10;
/** The longest function id accepted. */
export const MAX_FUNCTION_ID_LENGTH = 255;

/** A trigger on events: a name or wildcard pattern, and an optional CEL `if` filter. */
export interface EventTrigger {
  /** An event name (`app/user.created`) or a pattern with a trailing wildcard (`app/*`, `app/user.*`). */
  event: string;
  /** A CEL expression over `event` (and `async`) that must be true for the trigger to fire. */
  expression?: string;
}

/** A trigger on a schedule. */
export interface CronTrigger {
  /** Five cron fields, optionally after `TZ=<IANA zone> `; UTC otherwise. */
  cron: string;
  /** A random-looking but stable delay of each tick, from `"1s"` to `"5m"`. */
  jitter?: string;
}

/** One trigger of a function, in the shape the `inngest` SDK registers. */
export type TriggerDefinition = EventTrigger | CronTrigger;

/** A function as far as triggering goes: its id and its 1 to 10 triggers. */
export interface FunctionDefinition {
  /** Unique within an index. */
  id: string;
  triggers: TriggerDefinition[];
}

/** A validated trigger, with its compiled parts. */
export type CompiledTrigger =
  | {
      kind: "event";
      event: string;
      /** For `app/user.*` this is `app/user.`; `null` for an exact name. */
      prefix: string | null;
      expression: CompiledExpression | null;
    }
  | { kind: "cron"; cron: ParsedCron; jitter: string | null; jitterMs: number | null };

/** A validated function. */
export interface CompiledFunction {
  id: string;
  triggers: CompiledTrigger[];
}

const triggerShape = z
  .object(
    {
      event: z.string().optional(),
      expression: z.string().optional(),
      cron: z.string().optional(),
      jitter: z.string().optional(),
    },
    { error: 'must be an object like { event: "app/user.created" } or { cron: "0 12 * * 5" }' },
  )
  .loose();

const functionShape = z
  .object(
    {
      id: z
        .string({ error: "must be a string" })
        .min(1, { error: "must not be empty" })
        .max(MAX_FUNCTION_ID_LENGTH, {
          error: `must be at most ${MAX_FUNCTION_ID_LENGTH} characters long`,
        }),
      triggers: z
        .array(triggerShape, { error: "must be an array of triggers" })
        .min(1, { error: "must hold at least one trigger" })
        .max(MAX_TRIGGERS, {
          error: `holds more than ${MAX_TRIGGERS} triggers; a function may have 1 to ${MAX_TRIGGERS}`,
        }),
    },
    { error: "must be an object like { id, triggers: [...] }" },
  )
  .loose();

/** `functions[3].triggers[1].expression` from a zod path under `functions`. */
export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return out;
}

function compileTrigger(
  t: z.infer<typeof triggerShape>,
  at: string,
  issues: TriggerIssue[],
): CompiledTrigger | null {
  const hasEvent = t.event !== undefined;
  const hasCron = t.cron !== undefined;
  if (hasEvent === hasCron) {
    issues.push({
      path: at,
      message: hasEvent
        ? 'has both "event" and "cron"; a trigger is either { event, expression? } or { cron, jitter? }'
        : 'has neither "event" nor "cron"; a trigger is either { event, expression? } or { cron, jitter? }',
    });
    return null;
  }
  if (hasEvent) {
    let ok = true;
    if (t.jitter !== undefined) {
      issues.push({ path: `${at}.jitter`, message: "applies only to cron triggers" });
      ok = false;
    }
    const problem = patternProblem(t.event!);
    if (problem !== null) {
      issues.push({ path: `${at}.event`, message: problem });
      ok = false;
    }
    let expression: CompiledExpression | null = null;
    if (t.expression !== undefined) {
      const compiled = compileExpression(t.expression);
      if (compiled.ok) expression = compiled.expr;
      else {
        issues.push({ path: `${at}.expression`, message: compiled.message });
        ok = false;
      }
    }
    if (!ok) return null;
    return {
      kind: "event",
      event: t.event!,
      prefix: t.event!.endsWith("*") ? t.event!.slice(0, -1) : null,
      expression,
    };
  }
  let ok = true;
  if (t.expression !== undefined) {
    issues.push({ path: `${at}.expression`, message: "applies only to event triggers" });
    ok = false;
  }
  const cron = parseCron(t.cron!);
  if (!cron.ok) {
    issues.push({ path: `${at}.cron`, message: cron.message });
    ok = false;
  }
  let jitterMs: number | null = null;
  if (t.jitter !== undefined) {
    const j = parseJitter(t.jitter);
    if (j.ok) jitterMs = j.ms;
    else {
      issues.push({ path: `${at}.jitter`, message: j.message });
      ok = false;
    }
  }
  if (!ok || !cron.ok) return null;
  return { kind: "cron", cron: cron.cron, jitter: t.jitter ?? null, jitterMs };
}

/**
 * Validates and compiles function definitions. Returns every issue found (with paths under
 * `root`), or the compiled functions when there is none.
 */
export function compileFunctions(
  input: unknown,
  root = "functions",
): { ok: true; functions: CompiledFunction[] } | { ok: false; issues: TriggerIssue[] } {
  if (!Array.isArray(input)) {
    return {
      ok: false,
      issues: [{ path: root, message: "must be an array of function definitions" }],
    };
  }
  const issues: TriggerIssue[] = [];
  const functions: CompiledFunction[] = [];
  const ids = new Map<string, number>();
  input.forEach((raw, fi) => {
    const parsed = functionShape.safeParse(raw);
    if (!parsed.success) {
      for (const i of parsed.error.issues) {
        issues.push({ path: formatPath(`${root}[${fi}]`, i.path), message: i.message });
      }
      return;
    }
    const fn = parsed.data;
    const at = `${root}[${fi}]`;
    const first = ids.get(fn.id);
    if (first !== undefined) {
      issues.push({
        path: `${at}.id`,
        message: `${JSON.stringify(fn.id)} is also the id of ${root}[${first}]; ids must be unique`,
      });
    } else ids.set(fn.id, fi);
    const seen = new Map<string, number>();
    const crons = new Map<string, number>();
    const triggers: CompiledTrigger[] = [];
    fn.triggers.forEach((t, ti) => {
      const tAt = `${at}.triggers[${ti}]`;
      const key = JSON.stringify([t.event, t.expression, t.cron, t.jitter]);
      const dup = seen.get(key);
      if (dup !== undefined) {
        issues.push({
          path: tAt,
          message: `is the same as triggers[${dup}]; triggers of a function must differ`,
        });
        return;
      }
      seen.set(key, ti);
      if (t.cron !== undefined && t.event === undefined) {
        const sameCron = crons.get(t.cron.trim());
        if (sameCron !== undefined) {
          issues.push({
            path: `${tAt}.cron`,
            message: `repeats the cron of triggers[${sameCron}] (jitter aside); a function may list each cron once`,
          });
          return;
        }
        crons.set(t.cron.trim(), ti);
      }
      const compiled = compileTrigger(t, tAt, issues);
      if (compiled) triggers.push(compiled);
    });
    functions.push({ id: fn.id, triggers });
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, functions };
}
