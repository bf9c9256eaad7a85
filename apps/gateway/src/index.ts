export { type CliCommand, helpText, parseCommandLine } from "./args";
export {
  ConfigError,
  DEFAULTS,
  type GatewayConfig,
  type GatewayMode,
  type GatewayOptions,
  type LogLevel,
  resolveConfig,
} from "./config";
export { type GatewayStores, openStores, SQLITE_FILES } from "./drivers";
export { type Gateway, type StartGatewayExtras, startGateway } from "./gateway";
export { createLogger, flushLogs, type LoggerOptions, logLinesDropped } from "./logger";
export {
  createMetrics,
  type GatewayMetrics,
  type MetricsOptions,
  type RunsActive,
} from "./metrics";
export { type RetentionSweep, startRetention } from "./retention";
export { openSqliteFile, SQLITE_FILE } from "./sqlite-file";
export { parseBytes, parseDuration } from "./units";
export { VERSION } from "./version";

/** Name of the binary. */
export const APP_NAME = "evt-gateway";
