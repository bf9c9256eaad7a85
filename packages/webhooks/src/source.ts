import { createHash, randomBytes } from "node:crypto";
import { compileEventPattern, matchesEventName, TriggerError } from "@evt/triggers";
import { invalidSource, type WebhooksIssue } from "./errors";
import { compileTransform, TRANSFORM_FIELDS } from "./transform";
import type {
  StoredSecret,
  TransformSpec,
  VerifyConfig,
  VerifyScheme,
  WebhookSource,
  WebhookSourceView,
} from "./types";
import { svixKey } from "./verify/svix";

const SCHEMES: readonly VerifyScheme[] = ["none", "svix", "stripe", "github", "hmac"];
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
/** A fixed id (from a file): base64url or base32 text of at least 128 bits. */
const FIXED_ID = /^[A-Za-z0-9_-]{22,128}$/;
const ENV = /^[A-Za-z0-9._/-]{1,64}$/;
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
/** Seconds an old secret keeps verifying after a rotation, unless `verify.overlap` says. */
export const DEFAULT_OVERLAP_SECONDS = 86_400;
/** Seconds a signed timestamp may be off, unless `verify.tolerance` says. */
export const DEFAULT_TOLERANCE_SECONDS = 300;
const MAX_PATTERNS = 100;
const MAX_SECRET = 1024;

/**
 * A new webhook id: 26 lower-case base32 characters from 130 random bits (the secret part of
 * the URL `/w/<id>`).
 *
 * @example
 * ```ts
 * import { newWebhookId } from "@evt/webhooks";
 * newWebhookId(); // "k3v7...": 26 characters of a-z 2-7
 * ```
 */
export function newWebhookId(): string {
  const bytes = randomBytes(17);
  let bits = 0;
  let acc = 0;
  let out = "";
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < 26) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Whether text has the shape of a webhook id (before any lookup). */
export function isWebhookIdShape(id: string): boolean {
  return FIXED_ID.test(id);
}

/** What a source definition may hold (the API's `POST /v1/webhooks` body, a file entry). */
export interface WebhookSourceInput {
  /** Only in a file (or `validateSource(..., { fixedId: true })`): at least 22 of A-Z a-z 0-9 _ -. */
  id?: string;
  name: string;
  /** @default "production" */
  env?: string;
  transform?: TransformSpec;
  verify?: {
    scheme: VerifyScheme;
    /** One secret, or several valid at once. */
    secret?: string | string[];
    tolerance?: number;
    header?: string;
    encoding?: "hex" | "base64";
    prefix?: string;
    force?: boolean;
    /** Only in a patch: seconds the replaced secrets keep verifying. @default 86400 */
    overlap?: number;
  };
  allow?: string[];
  deny?: string[];
}

/** Options of {@link validateSource}. */
export interface ValidateSourceOptions {
  /** Dev mode: `verify.scheme: "none"` needs no `force`. @default false */
  dev?: boolean;
  /** Require and keep `id` (file entries); otherwise a given `id` is refused. @default false */
  fixedId?: boolean;
  /** Where the definition is, for messages (`webhooks[2]`). @default "" */
  path?: string;
  /** @default Date.now() */
  now?: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function unknownKeys(value: Obj, allowed: readonly string[], at: string, issues: WebhooksIssue[]) {
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) {
      issues.push({ path: join(at, k), message: `unknown field (allowed: ${allowed.join(", ")})` });
    }
  }
}

const join = (at: string, k: string) => (at === "" ? k : `${at}.${k}`);

/**
 * Checks a source definition and gives the source to store: a fresh id (or the fixed one),
 * compiled-and-checked transform, secrets as stored. Throws one {@link WebhooksError}
 * (`invalid_source`) listing every problem with its path.
 *
 * @example
 * ```ts
 * import { validateSource } from "@evt/webhooks";
 * const source = validateSource({
 *   name: "clerk",
 *   transform: { name: "'clerk/' + body.type", data: "body.data", id: "headers['svix-id']" },
 *   verify: { scheme: "svix", secret: "whsec_c2lnbmluZy1rZXktYnl0ZXM=" },
 * });
 * ```
 */
export function validateSource(input: unknown, options: ValidateSourceOptions = {}): WebhookSource {
  const at = options.path ?? "";
  const now = options.now ?? Date.now();
  const issues: WebhooksIssue[] = [];
  if (!isObj(input)) {
    throw invalidSource("a webhook source", [
      {
        path: at || "(body)",
        message:
          'must be an object like { "name": "clerk", "verify": { "scheme": "svix", "secret": "whsec_..." } }',
      },
    ]);
  }
  unknownKeys(input, ["id", "name", "env", "transform", "verify", "allow", "deny"], at, issues);
  let id: string;
  if (options.fixedId) {
    if (typeof input.id !== "string" || !FIXED_ID.test(input.id)) {
      issues.push({
        path: join(at, "id"),
        message:
          "must be 22 to 128 characters of A-Z a-z 0-9 _ - (at least 128 random bits: it is the secret part of the URL), e.g. from `openssl rand -base64 24 | tr '+/' '-_'`",
      });
    }
    id = String(input.id);
  } else {
    if (input.id !== undefined) {
      issues.push({
        path: join(at, "id"),
        message: "is chosen by the server (an unguessable id); leave it out",
      });
    }
    id = newWebhookId();
  }
  const name = checkName(input.name, join(at, "name"), issues);
  const env = checkEnv(input.env, join(at, "env"), issues);
  const transform = checkTransform(input.transform, join(at, "transform"), issues);
  const verify = checkVerify(
    input.verify,
    join(at, "verify"),
    options.dev === true,
    null,
    now,
    issues,
  );
  const allow = checkPatterns(input.allow, join(at, "allow"), issues);
  const deny = checkPatterns(input.deny, join(at, "deny"), issues);
  if (issues.length > 0) throw invalidSource(at === "" ? "the webhook source" : at, issues);
  return { id, name, env, transform, verify: verify!, allow, deny, createdAt: now, updatedAt: now };
}

/** A change to a source (the `PATCH /v1/webhooks/:id` body): any fields of the definition. */
export type WebhookSourcePatch = Partial<Omit<WebhookSourceInput, "id">>;

/**
 * Applies a patch to a stored source and gives the new one. A new `verify.secret` rotates: it
 * verifies at once, and the secrets it replaces keep verifying for `verify.overlap` seconds
 * (default 86,400; 0 ends them now). Throws `invalid_source` listing every problem.
 *
 * @example
 * ```ts
 * import { applyPatch } from "@evt/webhooks";
 * const next = applyPatch(source, { verify: { scheme: "github", secret: "new", overlap: 3600 } });
 * ```
 */
export function applyPatch(
  source: WebhookSource,
  patch: unknown,
  options: { dev?: boolean; now?: number } = {},
): WebhookSource {
  const now = options.now ?? Date.now();
  const issues: WebhooksIssue[] = [];
  if (!isObj(patch)) {
    throw invalidSource("the change", [
      { path: "(body)", message: "must be an object of the fields to change" },
    ]);
  }
  unknownKeys(patch, ["name", "env", "transform", "verify", "allow", "deny"], "", issues);
  const next: WebhookSource = { ...source, updatedAt: now };
  if ("name" in patch) next.name = checkName(patch.name, "name", issues);
  if ("env" in patch) next.env = checkEnv(patch.env, "env", issues);
  if ("transform" in patch) next.transform = checkTransform(patch.transform, "transform", issues);
  if ("verify" in patch) {
    const v = checkVerify(patch.verify, "verify", options.dev === true, source.verify, now, issues);
    if (v !== null) next.verify = v;
  }
  if ("allow" in patch) next.allow = checkPatterns(patch.allow, "allow", issues);
  if ("deny" in patch) next.deny = checkPatterns(patch.deny, "deny", issues);
  if (issues.length > 0) throw invalidSource("the change", issues);
  return next;
}

function checkName(v: unknown, path: string, issues: WebhooksIssue[]): string {
  if (typeof v !== "string" || v.trim() === "" || v.length > 128) {
    issues.push({ path, message: "must be a string of 1 to 128 characters (a label for people)" });
    return "";
  }
  return v;
}

function checkEnv(v: unknown, path: string, issues: WebhooksIssue[]): string {
  if (v === undefined) return "production";
  if (typeof v !== "string" || !ENV.test(v)) {
    issues.push({ path, message: "must be 1 to 64 characters of A-Z a-z 0-9 . _ - /" });
    return "";
  }
  return v;
}

function checkTransform(v: unknown, path: string, issues: WebhooksIssue[]): TransformSpec {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    issues.push({
      path,
      message: 'must be an object of CEL expressions like { "name": "\'clerk/\' + body.type" }',
    });
    return {};
  }
  unknownKeys(v, [...TRANSFORM_FIELDS, "split"], path, issues);
  const spec: TransformSpec = {};
  for (const field of TRANSFORM_FIELDS) {
    const text = v[field];
    if (text === undefined) continue;
    if (typeof text !== "string" || text.length === 0 || text.length > 4096) {
      issues.push({
        path: `${path}.${field}`,
        message: "must be a CEL expression of 1 to 4096 characters",
      });
      continue;
    }
    spec[field] = text;
  }
  if (v.split !== undefined) {
    if (typeof v.split !== "boolean")
      issues.push({ path: `${path}.split`, message: "must be true or false" });
    else spec.split = v.split;
  }
  const compiled = compileTransform(spec, path);
  if (!compiled.ok) issues.push(...compiled.issues);
  return spec;
}

function checkPatterns(v: unknown, path: string, issues: WebhooksIssue[]): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_PATTERNS) {
    issues.push({
      path,
      message: `must be a list of at most ${MAX_PATTERNS} event names or patterns like "clerk/*"`,
    });
    return [];
  }
  const out: string[] = [];
  for (const [i, p] of v.entries()) {
    try {
      compileEventPattern(p as string);
      out.push(p as string);
    } catch (err) {
      issues.push({
        path: `${path}[${i}]`,
        message:
          err instanceof TriggerError
            ? err.message.replace(/^\[evt\/triggers\] /, "")
            : String(err),
      });
    }
  }
  return out;
}

function checkSecrets(
  v: unknown,
  scheme: VerifyScheme,
  path: string,
  issues: WebhooksIssue[],
): string[] | null {
  const list = typeof v === "string" ? [v] : Array.isArray(v) ? v : null;
  if (list === null || list.length === 0 || list.length > 10) {
    issues.push({
      path,
      message: `is required for scheme "${scheme}": a string, or a list of 1 to 10 (all valid at once)`,
    });
    return null;
  }
  const out: string[] = [];
  for (const [i, s] of list.entries()) {
    const where = typeof v === "string" ? path : `${path}[${i}]`;
    if (typeof s !== "string" || s.length === 0 || s.length > MAX_SECRET) {
      issues.push({ path: where, message: `must be a string of 1 to ${MAX_SECRET} characters` });
    } else if (scheme === "svix" && svixKey(s) === null) {
      issues.push({
        path: where,
        message:
          'must be a Standard Webhooks secret: "whsec_" then base64 (as the provider shows it)',
      });
    } else out.push(s);
  }
  return out;
}

function checkVerify(
  v: unknown,
  path: string,
  dev: boolean,
  previous: VerifyConfig | null,
  now: number,
  issues: WebhooksIssue[],
): VerifyConfig | null {
  const given: Obj = v === undefined ? { scheme: "none" } : isObj(v) ? v : {};
  if (v !== undefined && !isObj(v)) {
    issues.push({
      path,
      message: `must be an object like { "scheme": "svix", "secret": "whsec_..." } (schemes: ${SCHEMES.join(", ")})`,
    });
    return null;
  }
  unknownKeys(
    given,
    ["scheme", "secret", "tolerance", "header", "encoding", "prefix", "force", "overlap"],
    path,
    issues,
  );
  const scheme = (given.scheme ?? previous?.scheme) as VerifyScheme;
  if (!SCHEMES.includes(scheme)) {
    issues.push({ path: `${path}.scheme`, message: `must be one of ${SCHEMES.join(", ")}` });
    return null;
  }
  const same = previous !== null && previous.scheme === scheme;
  const config: VerifyConfig = { scheme, secrets: [], tolerance: DEFAULT_TOLERANCE_SECONDS };
  if (same) Object.assign(config, { ...previous, secrets: previous.secrets });
  if (given.force !== undefined) {
    if (typeof given.force !== "boolean")
      issues.push({ path: `${path}.force`, message: "must be true or false" });
    else config.force = given.force;
  }
  if (scheme === "none") {
    config.secrets = [];
    if (given.secret !== undefined)
      issues.push({ path: `${path}.secret`, message: 'has no use with scheme "none"' });
    if (!dev && config.force !== true) {
      issues.push({
        path: `${path}.scheme`,
        message:
          'is "none": anyone who learns the URL could send events; allowed only in dev mode, or with "force": true in verify',
      });
    }
    return config;
  }
  if (given.tolerance !== undefined) {
    const t = given.tolerance;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > 86_400) {
      issues.push({
        path: `${path}.tolerance`,
        message: "must be a whole number of seconds from 1 to 86400",
      });
    } else config.tolerance = t;
  }
  if (
    given.overlap !== undefined &&
    (typeof given.overlap !== "number" ||
      !Number.isInteger(given.overlap) ||
      given.overlap < 0 ||
      given.overlap > 30 * 86_400)
  ) {
    issues.push({
      path: `${path}.overlap`,
      message: "must be a whole number of seconds from 0 to 2592000 (30 days)",
    });
  }
  if (given.secret !== undefined || !same) {
    const secrets = checkSecrets(given.secret, scheme, `${path}.secret`, issues);
    if (secrets !== null) {
      const fresh: StoredSecret[] = secrets.map((secret) => ({ secret, expiresAt: null }));
      if (same) {
        // A rotation: the replaced secrets keep verifying for the overlap.
        const overlap = typeof given.overlap === "number" ? given.overlap : DEFAULT_OVERLAP_SECONDS;
        const until = now + overlap * 1000;
        const old = previous.secrets
          .filter((s) => (s.expiresAt === null || s.expiresAt > now) && !secrets.includes(s.secret))
          .map((s) => ({
            secret: s.secret,
            expiresAt: s.expiresAt === null ? until : Math.min(s.expiresAt, until),
          }))
          .filter((s) => s.expiresAt > now);
        config.secrets = [...fresh, ...old];
      } else config.secrets = fresh;
    }
  }
  if (scheme === "hmac") {
    const h = given.header ?? config.header;
    if (typeof h !== "string" || !HEADER.test(h.toLowerCase())) {
      issues.push({
        path: `${path}.header`,
        message:
          'is required for scheme "hmac": the header that holds the signature, like "x-signature"',
      });
    } else config.header = h.toLowerCase();
    const e = given.encoding ?? config.encoding ?? "hex";
    if (e !== "hex" && e !== "base64")
      issues.push({ path: `${path}.encoding`, message: 'must be "hex" or "base64"' });
    else config.encoding = e;
    const p = given.prefix ?? config.prefix ?? "";
    if (typeof p !== "string" || p.length > 64)
      issues.push({
        path: `${path}.prefix`,
        message: 'must be a string of at most 64 characters, like "sha256="',
      });
    else config.prefix = p;
  } else {
    for (const k of ["header", "encoding", "prefix"] as const) {
      if (given[k] !== undefined)
        issues.push({ path: `${path}.${k}`, message: 'applies only to scheme "hmac"' });
    }
    delete config.header;
    delete config.encoding;
    delete config.prefix;
  }
  return config;
}

/** Whether allow/deny let an event name through. */
export function nameAllowed(source: Pick<WebhookSource, "allow" | "deny">, name: string): boolean {
  if (source.allow.length > 0 && !source.allow.some((p) => matchesEventName(p, name))) return false;
  return !source.deny.some((p) => matchesEventName(p, name));
}

/**
 * A source as the API shows it: every field but the secrets (only how many verify now).
 *
 * @example
 * ```ts
 * import { sourceView } from "@evt/webhooks";
 * sourceView(source).verify; // { scheme: "svix", tolerance: 300, secrets: 1 }
 * ```
 */
export function sourceView(source: WebhookSource, now = Date.now()): WebhookSourceView {
  const { secrets, ...rest } = source.verify;
  return {
    id: source.id,
    ref: webhookRef(source.id),
    name: source.name,
    env: source.env,
    transform: source.transform,
    verify: {
      ...rest,
      secrets: secrets.filter((s) => s.expiresAt === null || s.expiresAt > now).length,
    },
    allow: source.allow,
    deny: source.deny,
    created_at: new Date(source.createdAt).toISOString(),
    updated_at: new Date(source.updatedAt).toISOString(),
  };
}

/**
 * The public reference of a webhook source: `wh_` and 16 hex digits of the SHA-256 of its id.
 * Stable for the source's life, shown by the API as `ref`, and stored as the `source_id` of the
 * events it receives; the id itself is the secret part of the URL `/w/<id>` and is never stored
 * with events (a reader of events could otherwise send to the webhook).
 *
 * @example
 * ```ts
 * import { webhookRef } from "@evt/webhooks";
 *
 * webhookRef(source.id); // "wh_3f1c9a0b7d2e4c55"
 * ```
 */
export function webhookRef(id: string): string {
  return `wh_${createHash("sha256").update(id).digest("hex").slice(0, 16)}`;
}
