import type { IncomingMessage, ServerResponse } from "node:http";
import { bearerToken, type EventApi, KeyMatcher } from "@evt/server";
import {
  applyPatch,
  handleWebhook,
  isWebhookIdShape,
  sourceView,
  validateSource,
  type WebhookSource,
  type WebhookStore,
  WebhooksError,
  webhookRef,
} from "@evt/webhooks";
import type { Logger } from "pino";
import type { GatewayConfig } from "./config";
import { sendJson } from "./http";

/** Time allowed for a webhook body to arrive. */
const BODY_TIMEOUT_MS = 10_000;
/** Largest `POST/PATCH /v1/webhooks` body. */
const MAX_DEFINITION_BYTES = 64 * 1024;

/** The webhook routes of a gateway. */
export interface GatewayWebhooks {
  readonly store: WebhookStore;
  /** Serve `/w/:webhookId` and `/v1/webhooks[/:id]`; `false` when the request is not one of them. */
  route(req: IncomingMessage, res: ServerResponse, route: string): boolean;
  /** Events go through this Event API (`send`) from now on; `url` is the gateway's base URL. */
  start(api: EventApi, url: string): void;
}

export interface GatewayWebhooksOptions {
  config: GatewayConfig;
  store: WebhookStore;
  /** Sources of the `--webhooks` file (read-only through the API). */
  fileSources: readonly WebhookSource[];
  logger: Logger;
}

type Body = { ok: true; bytes: Buffer } | { ok: false; status: 408 | 413 };

function readBytes(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      resolve({ ok: false, status: 413 });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Body) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => finish({ ok: false, status: 408 }), BODY_TIMEOUT_MS);
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        finish({ ok: false, status: 413 });
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => finish({ ok: true, bytes: Buffer.concat(chunks) }));
    req.on("error", () => finish({ ok: false, status: 408 }));
  });
}

/**
 * The webhook half of a gateway: `POST /w/:webhookId` (verify, transform, then the Event API's
 * `send`, so the events deduplicate, are stored and trigger functions like `/e/` events) and the
 * management routes `POST/GET /v1/webhooks`, `GET/PATCH/DELETE /v1/webhooks/:id` (an API key in
 * `start`; secrets are never returned).
 */
export function createGatewayWebhooks(options: GatewayWebhooksOptions): GatewayWebhooks {
  const { config, store, logger } = options;
  const dev = config.mode === "dev";
  const fromFile = new Map(options.fileSources.map((s) => [s.id, s]));
  const keys = new KeyMatcher(dev ? [] : config.apiKeys);
  let api: EventApi | null = null;
  let baseUrl = "";

  const view = (s: WebhookSource, origin: "api" | "file") => ({
    ...sourceView(s),
    url: `${baseUrl}/w/${s.id}`,
    origin,
  });

  function refuse(res: ServerResponse, status: number, error: string, extra: object = {}) {
    sendJson(res, status, { ids: [], status, error, ...extra });
  }

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A refusal before the body is read closes the connection: its body is never read.
    const early = () => {
      req.resume();
      res.setHeader("connection", "close");
    };
    if (req.method !== "POST") {
      early();
      sendJson(
        res,
        405,
        { status: 405, error: "method not allowed (allowed: POST)" },
        { allow: "POST" },
      );
      return;
    }
    const [path, query = ""] = (req.url ?? "/").split("?", 2) as [string, string?];
    const id = path.slice(3).replace(/\/$/, "");
    // Same answer for a malformed id, an unknown one and a deleted one: nothing to learn.
    const unknown = () => refuse(res, 404, "no such webhook");
    if (!isWebhookIdShape(id)) {
      early();
      return unknown();
    }
    const source = fromFile.get(id) ?? (await store.get(id));
    if (source === null) {
      early();
      return unknown();
    }
    const body = await readBytes(req, config.maxRequestBytes);
    if (!body.ok) {
      res.setHeader("connection", "close");
      refuse(
        res,
        body.status,
        body.status === 413
          ? `the body is larger than the limit (allowed: at most ${config.maxRequestBytes} bytes, --max-request-bytes)`
          : "the body did not arrive in time",
      );
      return;
    }
    const outcome = handleWebhook(
      source,
      { rawBody: body.bytes, headers: req.headers, query },
      { allowUnverified: dev },
    );
    if (!outcome.ok) {
      logger.debug(
        { webhook: source.name, status: outcome.status, field: outcome.field },
        "webhook refused",
      );
      refuse(res, outcome.status, outcome.error, outcome.field ? { field: outcome.field } : {});
      return;
    }
    // As POST /e/ refuses them: a future ts would hold the event's runs until then.
    const latest = Date.now() + config.maxEventDelayMs;
    const late = outcome.events.findIndex((e) => e.ts > latest);
    if (late >= 0) {
      const field = `events[${late}].ts`;
      refuse(
        res,
        400,
        `${field}: ${new Date(outcome.events[late]!.ts).toISOString()} is more than --max-event-delay ahead of the server's clock (allowed: at most ${new Date(latest).toISOString()})`,
        { field },
      );
      return;
    }
    if (api === null) throw new Error("the Event API is not started");
    try {
      // The source's public ref, not its id: the id is the secret part of the URL.
      const ids = await api.send(outcome.events, {
        env: outcome.env,
        source: "webhook",
        sourceId: webhookRef(source.id),
      });
      sendJson(res, 200, { ids, status: 200 });
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      logger[status >= 500 ? "warn" : "debug"](
        { webhook: source.name, err },
        "webhook events not stored",
      );
      if (status === 503) res.setHeader("retry-after", "1");
      refuse(res, status, (err as Error).message.replace(/^\[evt\/server\] send: /, ""));
    }
  }

  async function readDefinition(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const body = await readBytes(req, MAX_DEFINITION_BYTES);
    if (!body.ok) {
      sendJson(res, body.status, {
        status: body.status,
        error:
          body.status === 413
            ? `the body is larger than ${MAX_DEFINITION_BYTES / 1024} KiB`
            : "the body did not arrive in time",
      });
      return undefined;
    }
    try {
      return JSON.parse(body.bytes.toString("utf8")) as unknown;
    } catch {
      sendJson(res, 400, {
        status: 400,
        error:
          'the body is not JSON; send a webhook source like { "name": "github", "verify": { "scheme": "github", "secret": "..." } }',
      });
      return undefined;
    }
  }

  function invalid(res: ServerResponse, err: WebhooksError) {
    sendJson(res, 400, {
      status: 400,
      error: err.message.replace(/^\[evt\/webhooks\] /, ""),
      issues: err.issues,
    });
  }

  async function manage(req: IncomingMessage, res: ServerResponse, route: string): Promise<void> {
    if (!dev && config.apiKeys.length === 0) {
      req.resume();
      sendJson(res, 403, {
        status: 403,
        error: "managing webhooks needs an API key: start the gateway with --api-key <key>",
      });
      return;
    }
    if (!keys.open && !keys.matches(bearerToken(req.headers.authorization))) {
      req.resume();
      sendJson(
        res,
        401,
        { status: 401, error: "this route needs an API key: Authorization: Bearer <key>" },
        { "www-authenticate": "Bearer" },
      );
      return;
    }
    const method = req.method ?? "GET";
    if (route === "/v1/webhooks") {
      if (method === "GET") {
        req.resume();
        const stored = await store.list();
        sendJson(res, 200, {
          data: [
            ...options.fileSources.map((s) => view(s, "file")),
            ...stored.map((s) => view(s, "api")),
          ],
        });
        return;
      }
      if (method !== "POST") {
        req.resume();
        sendJson(
          res,
          405,
          { status: 405, error: "method not allowed (allowed: GET, POST)" },
          { allow: "GET, POST" },
        );
        return;
      }
      const input = await readDefinition(req, res);
      if (input === undefined) return;
      let source: WebhookSource;
      try {
        source = validateSource(input, { dev });
      } catch (err) {
        if (err instanceof WebhooksError) return invalid(res, err);
        throw err;
      }
      await store.create(source);
      logger.info(
        { webhook: source.name, scheme: source.verify.scheme, env: source.env },
        "webhook source created",
      );
      sendJson(res, 201, { data: view(source, "api") });
      return;
    }
    const path = (req.url ?? "/").split("?", 1)[0]!.replace(/\/$/, "");
    const id = path.slice("/v1/webhooks/".length);
    const file = fromFile.get(id);
    const notFound = () => sendJson(res, 404, { status: 404, error: "no such webhook source" });
    if (method === "GET") {
      req.resume();
      if (file !== undefined) return sendJson(res, 200, { data: view(file, "file") });
      const s = isWebhookIdShape(id) ? await store.get(id) : null;
      if (s === null) return notFound();
      sendJson(res, 200, { data: view(s, "api") });
      return;
    }
    if (method !== "PATCH" && method !== "DELETE") {
      req.resume();
      sendJson(
        res,
        405,
        { status: 405, error: "method not allowed (allowed: GET, PATCH, DELETE)" },
        { allow: "GET, PATCH, DELETE" },
      );
      return;
    }
    if (file !== undefined) {
      req.resume();
      sendJson(res, 409, {
        status: 409,
        error:
          "this source is declared in the --webhooks file: change it there and restart the gateway",
      });
      return;
    }
    if (method === "DELETE") {
      req.resume();
      const gone = isWebhookIdShape(id) && (await store.delete(id));
      if (!gone) return notFound();
      logger.info({}, "webhook source deleted");
      sendJson(res, 200, { data: { id, deleted: true } });
      return;
    }
    if (!isWebhookIdShape(id)) {
      req.resume();
      return notFound();
    }
    const patch = await readDefinition(req, res);
    if (patch === undefined) return;
    let next: WebhookSource | null;
    try {
      next = isWebhookIdShape(id)
        ? await store.update(id, (s) => applyPatch(s, patch, { dev }))
        : null;
    } catch (err) {
      if (err instanceof WebhooksError && err.code === "invalid_source") return invalid(res, err);
      throw err;
    }
    if (next === null) return notFound();
    logger.info({ webhook: next.name, scheme: next.verify.scheme }, "webhook source changed");
    sendJson(res, 200, { data: view(next, "api") });
  }

  function failed(res: ServerResponse, err: unknown, what: string): void {
    const unavailable = err instanceof WebhooksError && err.retryable;
    logger.error({ err }, `${what} failed`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(
      res,
      unavailable ? 503 : 500,
      {
        status: unavailable ? 503 : 500,
        error: unavailable ? "the webhook store is unavailable; retry" : "internal error",
      },
      unavailable ? { "retry-after": "1" } : {},
    );
  }

  return {
    store,
    route(req, res, route) {
      if (route === "/w/:webhookId") {
        receive(req, res).catch((err: unknown) => failed(res, err, "a webhook"));
        return true;
      }
      if (route === "/v1/webhooks" || route === "/v1/webhooks/:webhookId") {
        manage(req, res, route).catch((err: unknown) => failed(res, err, route));
        return true;
      }
      return false;
    },
    start(eventApi, url) {
      api = eventApi;
      baseUrl = url;
    },
  };
}
