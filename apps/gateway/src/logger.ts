import pino, { type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "./config";

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written. @default "info" */
  level?: LogLevel;
  /** Human-readable lines (pino-pretty) instead of JSON lines. @default false */
  pretty?: boolean;
  /** Where lines go. @default stdout */
  destination?: DestinationStream;
}

/**
 * Paths that must never reach a log line even if some caller passes them by mistake: keys and
 * event payloads. The gateway itself logs route templates (`/e/:eventKey`), never raw URLs.
 */
const REDACT = [
  "eventKey",
  "apiKey",
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.url",
  "data",
  "event.data",
  "body",
];

/**
 * The gateway's pino logger: JSON lines on stdout by default, pretty lines when asked.
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: "debug" });
 * logger.info({ port: 8288 }, "listening");
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? "info",
    // pino serialises only `err` as an error by default; these keys hold errors too (the
    // Event API's readiness and ingest failures), and would otherwise print as `{}`.
    serializers: {
      err: pino.stdSerializers.err,
      dedupErr: pino.stdSerializers.err,
      storeErr: pino.stdSerializers.err,
      releaseErr: pino.stdSerializers.err,
    },
    base: { app: "evt-gateway", pid: process.pid },
    redact: { paths: REDACT, censor: "[redacted]" },
  };
  if (options.pretty) {
    return pino(
      base,
      pretty({
        colorize: process.stdout.isTTY === true,
        destination: options.destination ?? 1,
        ignore: "pid,hostname,app",
        sync: true,
      }),
    );
  }
  return pino(base, options.destination ?? pino.destination({ dest: 1, sync: true }));
}
