import { parseArgs } from "node:util";
import {
  ConfigError,
  configFromText,
  DEFAULTS,
  defaultText,
  type GatewayConfig,
  type GatewayMode,
  SETTINGS,
} from "./config";

/** What the command line asks for. */
export type CliCommand =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; config: GatewayConfig; prettyGiven: boolean }
  | { kind: "migrate"; config: GatewayConfig };

const REPEATABLE = new Set(["event-key", "api-key", "allowed-hosts", "cors-origin", "app-url"]);
/** Flags that take no value (`--pretty` means true); their env vars take true/false. */
const BOOLEAN = new Set(["pretty", "public-reads"]);

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
  ...Object.fromEntries(
    SETTINGS.map((s) => [
      s.flag,
      BOOLEAN.has(s.flag)
        ? { type: "boolean" }
        : { type: "string", ...(REPEATABLE.has(s.flag) ? { multiple: true } : {}) },
    ]),
  ),
} as const;

/**
 * Parses `evt-gateway <dev|start> [flags]` with the environment (flags win over env vars).
 * Throws a {@link ConfigError} with a one-line message for anything wrong.
 *
 * @example
 * ```ts
 * const cmd = parseCommandLine(["dev", "--port", "0"], process.env);
 * ```
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): CliCommand {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      // biome-ignore lint/suspicious/noExplicitAny: parseArgs' option map is built from SETTINGS
      options: OPTIONS as any,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new ConfigError(explainParseError(err as Error & { code?: string }));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const [command, ...extra] = positionals;
  if (command === undefined) {
    throw new ConfigError(
      'missing command: expected "dev", "start" or "migrate" (see evt-gateway --help)',
    );
  }
  if (command !== "dev" && command !== "start" && command !== "migrate") {
    throw new ConfigError(
      // A word is echoed; anything else may be a key typed in the wrong place.
      `unknown command ${/^[a-z][a-z-]{0,19}$/i.test(command) ? JSON.stringify(command) : "(not shown)"}: expected "dev", "start" or "migrate" (see evt-gateway --help)`,
    );
  }
  if (extra.length > 0) {
    throw new ConfigError(
      // The value is not echoed: a stray argument is often a key whose flag was forgotten.
      `unexpected argument after "${command}" (${extra.length === 1 ? "a value" : `${extra.length} values`} without a flag, not shown): flags start with --, e.g. --event-key <key> (see evt-gateway --help)`,
    );
  }
  const flags = values as Record<string, string | boolean | string[] | undefined>;
  // migrate reads the store settings only; keys are not needed to create tables.
  if (command === "migrate") return { kind: "migrate", config: configFromText("dev", flags, env) };
  const config = configFromText(command as GatewayMode, flags, env);
  const prettyGiven = flags.pretty !== undefined || (env.EVT_PRETTY ?? "") !== "";
  return { kind: "run", config, prettyGiven };
}

function explainParseError(err: Error & { code?: string }): string {
  const flag = /'(-{1,2}[^'\s]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag ?? ""}: see evt-gateway --help for the flags`.replace("  ", " ");
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return flag && /argument missing/.test(err.message)
        ? `${flag} needs a value, e.g. ${flag} <value> (see evt-gateway --help)`
        : `${flag ?? "a flag"} does not take a value here: ${err.message.split("\n")[0]}`;
    default:
      return err.message.split("\n")[0] ?? "invalid command line";
  }
}

/** The text of `evt-gateway --help`. */
export function helpText(version: string): string {
  const rows = SETTINGS.map((s) => {
    const arg = BOOLEAN.has(s.flag) ? "" : " <value>";
    const repeat = REPEATABLE.has(s.flag) ? " (repeatable)" : "";
    const def = s.key in DEFAULTS ? defaultText(s.key as keyof typeof DEFAULTS) : "";
    const envNote = REPEATABLE.has(s.flag) ? `${s.env} (comma-separated)` : s.env;
    return `  --${s.flag}${arg}${repeat}\n      ${s.describe}: ${s.expected}\n      env ${envNote}; default ${def}`;
  });
  return `evt-gateway ${version}: the evt Event API server (a drop-in target for Inngest's Event API)

Usage:
  evt-gateway dev [flags]     development: any event key accepted, reads open, loopback only
  evt-gateway start [flags]   production: needs --event-key and --api-key (or --public-reads)
  evt-gateway migrate [flags] create the PostgreSQL tables of --dedup / --store postgres://... and exit
  evt-gateway --help | --version

Flags (each also read from its environment variable; flags win):
${rows.join("\n")}
  -h, --help      show this help
  -v, --version   print the version

Routes: POST /e/:eventKey, GET /v1/events, GET /v1/events/:id, GET /v1/events/:id/runs, GET /v1/runs/:id,
  DELETE /v1/runs/:id, GET /v1/apps, GET /v1/functions, POST /fn/register, GET /dev, GET /health, GET /ready, GET /metrics,
  POST /w/:webhookId, GET/POST /v1/webhooks, GET/PATCH/DELETE /v1/webhooks/:id
Signals: SIGTERM/SIGINT shut down gracefully within --shutdown-timeout (exit 0; 1 past the timeout).
Exit codes: 0 ok, 1 runtime failure, 2 configuration error.
`;
}
