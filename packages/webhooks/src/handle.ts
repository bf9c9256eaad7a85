import { formatIssues, type Limits, parseEvents } from "@evt/schema";
import { parseBody, parseQuery } from "./body";
import { nameAllowed } from "./source";
import { type CompiledTransform, compileTransform } from "./transform";
import type { WebhookSource } from "./types";
import { type Headers, verifyRequest } from "./verify/index";

/** A webhook request, transport-free. */
export interface WebhookRequest {
  /** The body exactly as received: signatures are checked over these bytes. */
  rawBody: Uint8Array;
  /** Header names lower-case (as node:http gives them). */
  headers: Headers;
  /** The query string (with or without `?`), or its fields. */
  query?: string | Record<string, unknown>;
}

/** An event ready for the Event API's `send` (validated like a `POST /e/` event). */
export interface WebhookEvent {
  name: string;
  data: Record<string, unknown>;
  user: Record<string, unknown> | null;
  id: string | null;
  ts: number;
}

/** What {@link handleWebhook} concluded. */
export type WebhookOutcome =
  | {
      ok: true;
      env: string;
      events: WebhookEvent[];
      /** Events the source's allow/deny lists dropped. */
      dropped: number;
    }
  | {
      ok: false;
      /** 404: no source; 401: signature; 400: body, transform or event; 415: content type. */
      status: 400 | 401 | 404 | 415;
      error: string;
      /** The transform field or event field at fault (400), like `transform.name`. */
      field?: string;
    };

/** Options of {@link handleWebhook}. */
export interface HandleWebhookOptions {
  /** @default Date.now() */
  now?: number;
  /** Event limits, as the Event API applies them. */
  limits?: Partial<Limits>;
  /**
   * Accept a source with `verify.scheme: "none"` that was not forced (dev mode). Otherwise such
   * a source (made in dev, served in production) answers 401. @default false
   */
  allowUnverified?: boolean;
}

const transforms = new Map<string, CompiledTransform>();
const MAX_CACHED = 1_000;

function transformOf(source: WebhookSource): CompiledTransform {
  const key = JSON.stringify(source.transform);
  let t = transforms.get(key);
  if (t === undefined) {
    const compiled = compileTransform(source.transform);
    // A stored source was checked when it was defined; a failure here is a stored source from
    // another version: answer as a failing transform.
    if (!compiled.ok) throw compiled.issues[0];
    t = compiled.transform;
    if (transforms.size >= MAX_CACHED) transforms.clear();
    transforms.set(key, t);
  }
  return t;
}

function headerValues(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = typeof v === "string" ? v : v.join(", ");
  }
  return out;
}

/**
 * Turns one webhook request into events for a source, without any transport: `null` (no source
 * has the request's id) answers 404 `no such webhook`; then it verifies the
 * signature over the raw bytes (401, nothing else read), parses the body (JSON or form; 400,
 * 415), runs the CEL transform (400 naming the field), validates the events as `POST /e/` does
 * (400 naming the field) and applies the allow/deny lists. The caller stores the events
 * (the gateway through the Event API's `send`, which deduplicates by `id`).
 *
 * @example
 * ```ts
 * import { handleWebhook, validateSource } from "@evt/webhooks";
 * const source = validateSource({ name: "gh", verify: { scheme: "github", secret: "s3cret" },
 *   transform: { name: "'github/' + headers['x-github-event']", id: "headers['x-github-delivery']" } });
 * const outcome = handleWebhook(source, { rawBody, headers: req.headers, query: "" });
 * if (outcome.ok) await api.send(outcome.events, { env: outcome.env });
 * else res.writeHead(outcome.status).end(outcome.error);
 * ```
 */
export function handleWebhook(
  source: WebhookSource | null,
  request: WebhookRequest,
  options: HandleWebhookOptions = {},
): WebhookOutcome {
  // The same answer whether the id never existed or was deleted: nothing to learn from it.
  if (source === null) return { ok: false, status: 404, error: "no such webhook" };
  const now = options.now ?? Date.now();
  if (
    source.verify.scheme === "none" &&
    source.verify.force !== true &&
    options.allowUnverified !== true
  ) {
    return {
      ok: false,
      status: 401,
      error:
        'the source has verify.scheme "none", accepted only in dev mode or with "force": true in verify',
    };
  }
  const verified = verifyRequest(source.verify, {
    rawBody: request.rawBody,
    headers: request.headers,
    now,
  });
  if (!verified.ok) {
    return {
      ok: false,
      status: 401,
      error: `signature check failed (${source.verify.scheme}): ${verified.reason}`,
    };
  }
  const body = parseBody(request.rawBody, header(request.headers, "content-type"));
  if (!body.ok) return { ok: false, status: body.status, error: body.reason };
  const query =
    typeof request.query === "string" || request.query === undefined
      ? parseQuery(request.query ?? "")
      : request.query;
  let transform: CompiledTransform;
  try {
    transform = transformOf(source);
  } catch (issue) {
    const i = issue as { path: string; message: string };
    return { ok: false, status: 400, error: `${i.path}: ${i.message}`, field: i.path };
  }
  const result = transform.apply({
    body: body.value,
    headers: headerValues(request.headers),
    query,
  });
  if (!result.ok) {
    return {
      ok: false,
      status: 400,
      error: `${result.field}: ${result.reason}`,
      field: result.field,
    };
  }
  const parsed = parseEvents(result.events, {
    receivedAt: now,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  if (!parsed.ok) {
    const first = parsed.issues[0]!;
    return {
      ok: false,
      status: 400,
      error: `the transform gave an event that is not valid: ${formatIssues(parsed.issues)}`,
      field: first.path,
    };
  }
  const events: WebhookEvent[] = [];
  for (const e of parsed.events) {
    if (!nameAllowed(source, e.name)) continue;
    events.push({ name: e.name, data: e.data, user: e.user, id: e.id, ts: e.ts });
  }
  return { ok: true, env: source.env, events, dropped: parsed.events.length - events.length };
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return typeof v === "string" ? v : undefined;
}
