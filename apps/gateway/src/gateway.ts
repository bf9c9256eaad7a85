import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Server as NetServer } from "node:net";
import { createEventApi } from "@evt/server";
import { createNodeHandler } from "@evt/server/node";
import type { Logger } from "pino";
import { driverName, type GatewayConfig, type GatewayOptions, resolveConfig } from "./config";
import { type GatewayStores, openStores } from "./drivers";
import { createGatewayListener } from "./http";
import { createLogger } from "./logger";
import { createMetrics, type GatewayMetrics } from "./metrics";
import { startRetention } from "./retention";

/** A running gateway. */
export interface Gateway {
  /** Base URL it listens on, e.g. `http://127.0.0.1:8288`. */
  readonly url: string;
  /** The effective configuration. */
  readonly config: GatewayConfig;
  /** The one-line summary printed at start (mode, URL, drivers). */
  readonly summary: string;
  /** The node:http server (for tests and embedders). */
  readonly server: Server;
  /** The gateway's metrics registry and hooks. */
  readonly metrics: GatewayMetrics;
  /**
   * Graceful shutdown: stop accepting connections, answer every request already received
   * (later requests on open connections get 503), then close the stores. Safe to call twice.
   */
  close(): Promise<void>;
}

/** Extra, non-configuration inputs of {@link startGateway}. */
export interface StartGatewayExtras {
  /** Logger to use instead of the one built from `logLevel`/`pretty`. */
  logger?: Logger;
  /** Stores to use instead of the ones `dedup`/`store` name; the gateway closes them on `close()`. */
  stores?: GatewayStores;
}

/**
 * Starts a gateway in this process: opens the stores, builds the Event API with metrics and
 * logs, and listens. Resolves once it accepts connections.
 *
 * @example
 * ```ts
 * import { startGateway } from "@evt/gateway";
 *
 * const gateway = await startGateway({ mode: "dev", port: 0, dedup: "memory", store: "memory" });
 * await fetch(`${gateway.url}/e/any-key`, { method: "POST", body: '{"name":"app/hello"}' });
 * await gateway.close();
 * ```
 */
export async function startGateway(
  options: GatewayOptions & StartGatewayExtras = {},
): Promise<Gateway> {
  const { logger: givenLogger, stores: givenStores, ...settings } = options;
  const config = resolveConfig(settings);
  const logger = givenLogger ?? createLogger({ level: config.logLevel, pretty: config.pretty });
  const dev = config.mode === "dev";

  if (dev) {
    logger.warn(
      { mode: "dev" },
      'development mode: any event key is accepted and reads are open; run "evt-gateway start --event-key <key>" in production',
    );
    if (config.eventKeys.length > 0 || config.apiKeys.length > 0) {
      logger.warn({ mode: "dev" }, "event keys and API keys are ignored in development mode");
    }
  } else if (config.dedup === "memory" || config.store === "memory") {
    logger.warn(
      { dedup: driverName(config.dedup), store: driverName(config.store) },
      "a memory driver keeps nothing across restarts and is not shared between gateways",
    );
  }

  const { dedup, store } = givenStores ?? openStores(config);
  const closeStores = async () => {
    await Promise.allSettled([dedup.close(), store.close()]);
  };

  try {
    await checkStores({ dedup, store }, logger);
  } catch (err) {
    await closeStores();
    throw err;
  }

  const metrics = createMetrics();
  const apiKeys = dev ? [] : config.apiKeys;
  const api = createEventApi({
    dedup,
    store,
    eventKeys: dev ? [] : config.eventKeys,
    apiKeys,
    dedupWindowMs: config.dedupWindowMs,
    maxRequestBytes: config.maxRequestBytes,
    logger,
    hooks: metrics.hooks,
  });
  const apiHandler = createNodeHandler(api);

  let closing = false;
  const listener = createGatewayListener({
    api: apiHandler,
    metrics,
    logger,
    apiKeys,
    isClosing: () => closing,
  });
  const server = createServer({
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
  });
  const connections = trackConnections(server);
  server.on("request", (req, res) => {
    connections.track(req, res);
    listener(req, res);
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = JSON.stringify({
      ids: [],
      status,
      error: `Malformed or incomplete request (${err.code ?? "client error"})`,
    });
    socket.end(
      `HTTP/1.1 ${status} ${status === 408 ? "Request Timeout" : "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await closeStores();
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const retention = startRetention(store, config.retentionMs, logger);
  const drivers = `dedup: ${dedup.driver}, store: ${store.driver}`;
  const usesFiles = !givenStores && (config.dedup === "sqlite" || config.store === "sqlite");
  const summary = `evt-gateway ${config.mode} listening on ${url} (${drivers}${usesFiles ? `, data: ${config.dataDir}` : ""})`;
  logger.info({ url, mode: config.mode, dedup: dedup.driver, store: store.driver }, "listening");

  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= (async () => {
      closing = true;
      // Stop accepting new connections, but keep the accepted ones: a request already on its
      // way gets an answer (503 once the API is closed) instead of a reset.
      NetServer.prototype.close.call(server);
      connections.closeIdle();
      await Promise.all([apiHandler.drain(), api.close(), retention.stop()]);
      await connections.drain();
      await closeStores();
      logger.info({}, "closed");
    })();
    return closed;
  };

  return { url, config, summary, server, metrics, close };
}

/** Pings both stores; a store that cannot work at all (bad file, missing library) stops the start. */
async function checkStores(stores: GatewayStores, logger: Logger): Promise<void> {
  const checks = await Promise.allSettled([stores.dedup.ping(), stores.store.ping()]);
  for (const [i, check] of checks.entries()) {
    if (check.status === "fulfilled") continue;
    const which = i === 0 ? "dedup" : "event";
    const err = check.reason as { retryable?: boolean; message?: string };
    if (err?.retryable === true) {
      logger.warn(
        { store: which, err },
        `${which} store does not answer yet; requests get 503 until it does`,
      );
    } else {
      throw new Error(`${which} store cannot start: ${err?.message ?? String(err)}`, {
        cause: err,
      });
    }
  }
}

/**
 * Tracks open connections and how many requests each one is answering, so shutdown can end
 * idle keep-alive connections at once, let busy ones finish, and give a fresh connection a
 * moment to send its request (which then gets a 503 with `connection: close`).
 */
function trackConnections(server: Server) {
  const state = new Map<Socket, { active: number; served: number }>();
  let onEmpty: (() => void) | null = null;
  let closing = false;

  server.on("connection", (socket: Socket) => {
    state.set(socket, { active: 0, served: 0 });
    socket.once("close", () => {
      state.delete(socket);
      if (state.size === 0) onEmpty?.();
    });
  });
  return {
    /** Counts a request on its connection; call before anything can answer it. */
    track(req: IncomingMessage, res: ServerResponse) {
      const s = state.get(req.socket);
      if (!s) return;
      s.active++;
      res.once("finish", () => {
        s.active--;
        s.served++;
        // Headers may have gone out with keep-alive before shutdown began: end it here.
        if (closing && s.active === 0) req.socket.end();
      });
    },
    closeIdle() {
      closing = true;
      for (const [socket, s] of state) {
        if (s.active === 0 && s.served > 0) socket.end();
      }
    },
    /** Resolves when every connection is gone; a connection silent for 1 s is ended. */
    drain(): Promise<void> {
      if (state.size === 0) return Promise.resolve();
      const timer = setTimeout(() => {
        for (const [socket, s] of state) if (s.active === 0) socket.destroy();
      }, 1000);
      timer.unref();
      return new Promise<void>((resolve) => {
        onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
