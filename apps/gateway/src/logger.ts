import pino, { type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "./config";

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written. @default "info" */
  level?: LogLevel;
  /** Human-readable lines (pino-pretty) instead of JSON lines. @default false */
  pretty?: boolean;
  /**
   * Where lines go. @default stdout, written asynchronously through a buffer of `bufferBytes`
   */
  destination?: DestinationStream;
  /**
   * Bytes of log lines held while stdout's reader is slow or stalled (a full pipe, a stuck log
   * shipper). Past it, new lines are dropped and counted ({@link logLinesDropped}) instead of
   * blocking the process. Only for the default destination (stdout). @default 1_048_576 (1 MiB)
   */
  bufferBytes?: number;
}

/** Lines dropped by each logger {@link createLogger} built on stdout. */
const DROPPED = new WeakMap<Logger, { lines: number }>();
/** The stdout destination of each logger {@link createLogger} built on stdout. */
const STDOUT = new WeakMap<Logger, ReturnType<typeof pino.destination>>();

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
 * The gateway's pino logger: JSON lines on stdout by default, pretty lines when asked. Lines go
 * to stdout asynchronously through a buffer of `bufferBytes`; past it they are dropped and
 * counted ({@link logLinesDropped}), so a stalled log reader never freezes the process.
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
    // `errWithCause` keeps the message and stack an error's own and puts its cause in `cause`
    // (the default `err` writes the cause into the message and into the stack: twice).
    serializers: {
      err: pino.stdSerializers.errWithCause,
      dedupErr: pino.stdSerializers.errWithCause,
      storeErr: pino.stdSerializers.errWithCause,
      releaseErr: pino.stdSerializers.errWithCause,
    },
    base: { app: "evt-gateway", pid: process.pid },
    redact: { paths: REDACT, censor: "[redacted]" },
  };
  const dropped = { lines: 0 };
  // Asynchronous writes through a bounded buffer: a stalled reader of stdout costs dropped
  // (and counted) lines, never a frozen event loop (a synchronous write to a full pipe blocks
  // the whole process, signal handlers included).
  const stdout =
    options.destination === undefined
      ? pino.destination({ dest: 1, sync: false, maxLength: options.bufferBytes ?? 1024 * 1024 })
      : undefined;
  if (stdout) {
    stdout.on("drop", (data: string | Buffer) => {
      dropped.lines += countLines(data);
    });
    // A reader that went away (EPIPE): nothing can be logged any more; do not crash for it.
    stdout.on("error", () => {});
  }
  const logger = options.pretty
    ? pino(
        base,
        pretty({
          colorize: process.stdout.isTTY === true,
          destination: options.destination ?? stdout!,
          ignore: "pid,hostname,app",
        }),
      )
    : pino(base, options.destination ?? stdout!);
  if (stdout) {
    DROPPED.set(logger, dropped);
    STDOUT.set(logger, stdout);
  }
  return logger;
}

function countLines(data: string | Buffer): number {
  let n = 0;
  if (typeof data === "string") {
    for (let i = data.indexOf("\n"); i >= 0; i = data.indexOf("\n", i + 1)) n++;
  } else {
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) n++;
  }
  return Math.max(n, 1);
}

/**
 * How many log lines a logger from {@link createLogger} dropped because stdout's reader fell
 * more than `bufferBytes` behind (`0` for loggers with their own destination).
 *
 * @example
 * ```ts
 * const logger = createLogger({ bufferBytes: 64 * 1024 });
 * console.log(logLinesDropped(logger)); // 0 while stdout keeps up
 * ```
 */
export function logLinesDropped(logger: Logger): number {
  return DROPPED.get(logger)?.lines ?? 0;
}

/**
 * Waits until the lines buffered for stdout are written, or `timeoutMs` passes (a stalled
 * reader must not hold up an exit); then the lines still buffered are dropped and the logger
 * writes nothing more. Resolves either way; call it right before `process.exit`. For loggers
 * from {@link createLogger}.
 *
 * @example
 * ```ts
 * logger.info({}, "closed");
 * await flushLogs(logger, 1_000);
 * process.exit(0);
 * ```
 */
export function flushLogs(logger: Logger, timeoutMs: number): Promise<void> {
  const stdout = STDOUT.get(logger);
  if (!stdout) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      // Give up on the rest: pino flushes an asynchronous destination synchronously at exit,
      // which would wait forever on a stalled reader. A destroyed one is skipped.
      stdout.destroy();
      resolve();
    }, timeoutMs);
    // end(): write what is buffered, then close; "close" once everything is out.
    stdout.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      stdout.end();
    } catch {
      // Already ended or destroyed: nothing left to wait for.
      clearTimeout(timer);
      resolve();
    }
  });
}
