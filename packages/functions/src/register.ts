import {
  compileKey,
  createTriggerIndex,
  type TriggerDefinition,
  TriggerError,
} from "@evt/triggers";
import { z } from "zod";
import { checkBatchEvents } from "./batching";
import { concurrencyIssues } from "./concurrency";
import { isFunctionsError } from "./errors";
import { flowControlIssues } from "./flow-control";
import type { AppRecord, FunctionInput, JsonValue, RunStore } from "./run-store";
import { MAX_ID_LENGTH, MAX_URL_LENGTH } from "./validate";

/** Most functions one registration may hold. */
export const MAX_REGISTER_FUNCTIONS = 1000;
/** Most retries a function may ask for (Inngest's limit). */
export const MAX_RETRIES = 20;
/** Retries of a function that registers none: 4 retries, so 5 attempts (Inngest's default). */
export const DEFAULT_RETRIES = 4;

/** One problem of a `/fn/register` body: where (`functions[1].triggers[0].event`) and what. */
export interface RegisterIssue {
  path: string;
  message: string;
}

/** A function of a registration, as evt stores and runs it. */
export interface RegisteredFunction extends FunctionInput {
  /** Event and cron triggers, as registered. */
  triggers: TriggerDefinition[];
  /** Retries after the first attempt (attempts = retries + 1). */
  retries: number;
}

/** A `/fn/register` body, checked. */
export interface Registration {
  /** The app to store (`syncedAt` is the time given to {@link parseRegisterBody}). */
  app: AppRecord;
  functions: RegisteredFunction[];
  /** `deployId` of the body, or `null`. */
  deployId: string | null;
}

/** What {@link parseRegisterBody} answers. */
export type RegisterParseResult =
  | { ok: true; registration: Registration }
  | { ok: false; issues: RegisterIssue[] };

const httpUrl = z
  .string({ error: "must be a string (an http:// or https:// URL)" })
  .max(MAX_URL_LENGTH, { error: `must be at most ${MAX_URL_LENGTH} characters` })
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (
          (url.protocol === "http:" || url.protocol === "https:") &&
          url.username === "" &&
          url.password === ""
        );
      } catch {
        return false;
      }
    },
    { error: "must be an http:// or https:// URL without user:password@" },
  );

const id = z
  .string({ error: "must be a string" })
  .min(1, { error: "must not be empty" })
  .max(MAX_ID_LENGTH, { error: `must be at most ${MAX_ID_LENGTH} characters` })
  .regex(/^[\x21-\x7e]+$/, { error: "must be printable ASCII without spaces" });

const name = z
  .string({ error: "must be a string" })
  .min(1, { error: "must not be empty" })
  .max(MAX_ID_LENGTH, { error: `must be at most ${MAX_ID_LENGTH} characters` });

const optionalText = z.string({ error: "must be a string" }).max(MAX_ID_LENGTH).optional();

const stepShape = z
  .object(
    {
      id: z.string({ error: "must be a string" }),
      name: z.string({ error: "must be a string" }).optional(),
      runtime: z.object(
        {
          type: z.literal("http", { error: 'must be "http" (evt calls functions over HTTP)' }),
          url: httpUrl,
        },
        { error: 'must be an object like { type: "http", url }' },
      ),
      retries: z
        .object(
          {
            attempts: z
              .number({ error: "must be a number" })
              .int({ error: "must be an integer" })
              .min(0, { error: "must be 0 or more" })
              .max(MAX_RETRIES, {
                error: `must be at most ${MAX_RETRIES} (retries after the first attempt)`,
              }),
          },
          { error: "must be an object like { attempts: 4 }" },
        )
        .loose()
        .optional(),
    },
    { error: 'must be an object like { id, runtime: { type: "http", url } }' },
  )
  .loose();

const functionShape = z
  .object(
    {
      id,
      name,
      triggers: z.array(z.unknown(), { error: "must be an array of triggers" }),
      steps: z
        .record(z.string(), stepShape, { error: "must be an object of steps by id" })
        .refine((steps) => Object.keys(steps).length === 1, {
          error: 'must hold exactly one step (the SDK registers one, named "step")',
        }),
    },
    { error: "must be an object like { id, name, triggers, steps }" },
  )
  .loose();

const bodyShape = z
  .object(
    {
      url: httpUrl,
      appName: id,
      deployType: z.literal("ping", { error: 'must be "ping"' }).optional(),
      framework: optionalText,
      sdk: optionalText,
      v: optionalText,
      deployId: optionalText,
      appVersion: optionalText,
      functions: z
        .array(functionShape, { error: "must be an array of functions" })
        .max(MAX_REGISTER_FUNCTIONS, {
          error: `holds more than ${MAX_REGISTER_FUNCTIONS} functions; an app may register at most ${MAX_REGISTER_FUNCTIONS}`,
        }),
    },
    {
      error:
        "must be a JSON object like { url, appName, functions, ... } (the SDK's register body)",
    },
  )
  .loose();

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "body" : out;
}

/**
 * Check the body an `inngest` SDK posts to `/fn/register` (v3 and v4), with every problem and
 * its path (`functions[1].triggers[0].event`). Triggers are checked by `@evt/triggers`
 * (names, wildcards, CEL `if`, cron and jitter). The registered config of each function (all
 * its keys but `id` and `name`) is kept as JSON, for the executor to read `retries`,
 * `concurrency`, `cancel` and the rest.
 *
 * @example
 * ```ts
 * import { parseRegisterBody } from "@evt/functions";
 *
 * const result = parseRegisterBody(JSON.parse(body), Date.now());
 * if (!result.ok) console.log(result.issues); // [{ path: "functions[0].triggers[0].event", message: "..." }]
 * ```
 */
export function parseRegisterBody(body: unknown, now: number = Date.now()): RegisterParseResult {
  const parsed = bodyShape.safeParse(body);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    };
  }
  const b = parsed.data;
  const issues: RegisterIssue[] = [];
  try {
    createTriggerIndex(
      b.functions.map((f) => ({ id: f.id, triggers: f.triggers as TriggerDefinition[] })),
    );
  } catch (error) {
    if (!(error instanceof TriggerError)) throw error;
    issues.push(...error.issues);
  }
  for (const [i, f] of b.functions.entries()) {
    issues.push(
      ...concurrencyIssues(
        (f as { concurrency?: unknown }).concurrency,
        `functions[${i}].concurrency`,
      ),
      ...checkBatchEvents(
        (f as { batchEvents?: unknown }).batchEvents,
        `functions[${i}].batchEvents`,
      ),
      ...flowControlIssues(f as Record<string, unknown>, `functions[${i}]`),
    );
    const key = (f as { idempotency?: unknown }).idempotency;
    if (key === undefined || key === null) continue;
    if (typeof key !== "string") {
      issues.push({
        path: `functions[${i}].idempotency`,
        message: 'must be a CEL expression (a string), e.g. "event.data.userId"',
      });
      continue;
    }
    try {
      compileKey(key);
    } catch (error) {
      if (!(error instanceof TriggerError)) throw error;
      issues.push({
        path: `functions[${i}].idempotency`,
        message: error.issues[0]?.message ?? error.message,
      });
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  const functions = b.functions.map((f): RegisteredFunction => {
    const step = Object.values(f.steps)[0]!;
    const { id: fnId, name: fnName, ...config } = f;
    return {
      id: fnId,
      name: fnName,
      config: config as JsonValue,
      stepUrl: step.runtime.url,
      triggers: f.triggers as TriggerDefinition[],
      retries: step.retries?.attempts ?? DEFAULT_RETRIES,
    };
  });
  return {
    ok: true,
    registration: {
      app: {
        url: b.url,
        appId: b.appName,
        sdk: b.sdk ?? null,
        framework: b.framework ?? null,
        syncedAt: now,
        lastError: null,
      },
      functions,
      deployId: b.deployId ?? null,
    },
  };
}

/** An HTTP answer to a `/fn/register` request: the status and the JSON body the SDK reads. */
export interface RegisterAnswer {
  status: number;
  body: {
    ok: boolean;
    status: number;
    modified: boolean;
    error?: string;
    issues?: RegisterIssue[];
  };
}

/**
 * The answer the SDK expects. The SDK reads success from the JSON `status` (not the HTTP
 * status) and shows `error` to the person who synced, so a refusal carries both.
 *
 * @example
 * ```ts
 * import { registerAnswer } from "@evt/functions";
 *
 * const answer = registerAnswer({ modified: true });
 * res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
 * ```
 */
export function registerAnswer(
  outcome: { modified: boolean } | { issues: RegisterIssue[] } | { status: number; error: string },
): RegisterAnswer {
  if ("modified" in outcome) {
    return { status: 200, body: { ok: true, status: 200, modified: outcome.modified } };
  }
  if ("issues" in outcome) {
    const shown = outcome.issues.slice(0, 20);
    const more = outcome.issues.length - shown.length;
    const error = `evt refused the registration: ${shown.map((i) => `${i.path}: ${i.message}`).join("; ")}${more > 0 ? `; and ${more} more` : ""}`;
    return { status: 400, body: { ok: false, status: 400, modified: false, error, issues: shown } };
  }
  return {
    status: outcome.status,
    body: { ok: false, status: outcome.status, modified: false, error: outcome.error },
  };
}

/**
 * Store a checked registration in one transaction: the app and its functions (replacing the
 * ones it had). `modified` is `true` when a function was added, changed or removed.
 *
 * @example
 * ```ts
 * import { parseRegisterBody, registerAnswer, storeRegistration } from "@evt/functions";
 *
 * const parsed = parseRegisterBody(body);
 * const answer = parsed.ok
 *   ? registerAnswer(await storeRegistration(runs, parsed.registration))
 *   : registerAnswer({ issues: parsed.issues });
 * ```
 */
export async function storeRegistration(
  store: RunStore,
  registration: Registration,
): Promise<{ modified: boolean }> {
  const { modified } = await store.syncApp(
    registration.app,
    registration.functions.map(({ id: fnId, name: fnName, config, stepUrl }) => ({
      id: fnId,
      name: fnName,
      config,
      stepUrl,
    })),
  );
  return { modified };
}

/**
 * The whole `/fn/register` route without its transport: check `body`, store the sync, and
 * give the answer the SDK expects. A body with problems, or a sync the store refuses (a
 * function id another app URL holds), is a 400 answer naming them; other store errors (the
 * database is unavailable) are thrown, for the route to answer 5xx.
 *
 * @example
 * ```ts
 * import { handleRegister } from "@evt/functions";
 *
 * const answer = await handleRegister(runs, JSON.parse(requestBody));
 * res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
 * ```
 */
export async function handleRegister(
  store: RunStore,
  body: unknown,
  now: number = Date.now(),
): Promise<RegisterAnswer> {
  const parsed = parseRegisterBody(body, now);
  if (!parsed.ok) return registerAnswer({ issues: parsed.issues });
  try {
    return registerAnswer(await storeRegistration(store, parsed.registration));
  } catch (error) {
    if (isFunctionsError(error, "invalid_input", "too_large")) {
      return registerAnswer({
        status: 400,
        error: `evt refused the registration: ${error.message.replace(/^\[evt\/functions\] \[[a-z]+\] /, "")}`,
      });
    }
    throw error;
  }
}
