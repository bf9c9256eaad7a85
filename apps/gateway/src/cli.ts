#!/usr/bin/env node
import { helpText, parseCommandLine } from "./args";
import { ConfigError } from "./config";
import type { Gateway } from "./gateway";
import { createLogger, flushLogs } from "./logger";
import { VERSION } from "./version";

/** Longest wait for buffered log lines before an exit. */
const LOG_FLUSH_MS = 1_000;

function fail(message: string, code: number): never {
  process.stderr.write(`evt-gateway: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let command: ReturnType<typeof parseCommandLine>;
  try {
    command = parseCommandLine(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  if (command.kind === "help") {
    process.stdout.write(helpText(VERSION));
    return;
  }
  if (command.kind === "version") {
    process.stdout.write(`${VERSION}\n`);
    return;
  }

  if (command.kind === "migrate") {
    const { migrate } = await import("./migrate");
    try {
      for (const line of await migrate(command.config)) process.stdout.write(`${line}\n`);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, 2);
      fail(`migrate failed: ${(err as Error).message}`, 1);
    }
    return;
  }

  const { config, prettyGiven } = command;
  // Pretty logs in dev on a terminal; JSON lines otherwise (pipes, tests, production).
  if (!prettyGiven) config.pretty = config.mode === "dev" && process.stdout.isTTY === true;
  const logger = createLogger({
    level: config.logLevel,
    pretty: config.pretty,
    bufferBytes: config.logBufferBytes,
  });
  /** Exit once the buffered log lines are out, or after 1 s if stdout's reader is stalled. */
  const exit = (code: number, waitMs = LOG_FLUSH_MS): void => {
    void flushLogs(logger, waitMs).then(() => process.exit(code));
  };

  let gateway: Gateway;
  try {
    // Loaded only now, so --help and configuration errors never load the store drivers.
    const { startGateway } = await import("./gateway");
    gateway = await startGateway({ ...config, logger });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    logger.fatal({ err }, "start failed");
    await flushLogs(logger, LOG_FLUSH_MS);
    fail((err as Error).message, 1);
  }
  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      logger.warn({ signal }, "second signal: exiting now");
      exit(1, 0);
      return;
    }
    shuttingDown = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "shutting down");
    const timer = setTimeout(() => {
      logger.error(
        { timeoutMs: config.shutdownTimeoutMs },
        "shutdown did not finish within --shutdown-timeout; exiting with requests or stores still open",
      );
      exit(1);
    }, config.shutdownTimeoutMs);
    gateway.close().then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  // Printed only once the signal handlers are in place: whoever reads this line may signal at once.
  process.stdout.write(`${gateway.summary}\n`);
}

main().catch((err: unknown) => {
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1);
});
