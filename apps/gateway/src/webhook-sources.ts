import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  validateSource,
  type WebhookSource,
  type WebhookStore,
  WebhooksError,
} from "@evt/webhooks";
import { createMemoryWebhookStore } from "@evt/webhooks/memory";
import { createPostgresWebhookStore } from "@evt/webhooks/postgres";
import { createSqliteWebhookStore } from "@evt/webhooks/sqlite";
import { ConfigError, driverName, type GatewayConfig } from "./config";
import { prepareDataDir } from "./data-dir";

/** File name of the SQLite webhook store inside the data folder (beside `runs.sqlite`). */
export const WEBHOOKS_FILE = "webhooks.sqlite";

/**
 * Opens the webhook store beside the run state: memory when `--runs` is memory, the SQLite
 * file `webhooks.sqlite` in the data folder when it is sqlite, the same PostgreSQL database
 * (table `<--pg-table-prefix>webhook_sources`) when it is `postgres://`.
 */
export function openWebhookStore(config: GatewayConfig): WebhookStore {
  switch (driverName(config.runs)) {
    case "memory":
      return createMemoryWebhookStore();
    case "sqlite":
      prepareDataDir(config.dataDir, [WEBHOOKS_FILE]);
      return createSqliteWebhookStore({ path: join(config.dataDir, WEBHOOKS_FILE) });
    default:
      return createPostgresWebhookStore({
        connectionString: config.runs,
        ...(config.pgTablePrefix ? { tablePrefix: config.pgTablePrefix } : {}),
      });
  }
}

/**
 * Reads a `--webhooks` file: a JSON array of source definitions, each with a fixed `id`. Every
 * problem is a {@link ConfigError} (exit 2) naming the file, the entry and the field; secrets are
 * never in the message.
 */
export function loadWebhooksFile(path: string, dev: boolean): WebhookSource[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      `--webhooks ${JSON.stringify(path)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `--webhooks ${JSON.stringify(path)} is not JSON (${(err as Error).message}): expected an array of webhook sources like [{ "id": "<22+ characters of A-Z a-z 0-9 _ ->", "name": "github", "verify": { "scheme": "github", "secret": "..." } }]`,
    );
  }
  if (!Array.isArray(value)) {
    throw new ConfigError(
      `--webhooks ${JSON.stringify(path)} must hold a JSON array of webhook sources, got ${value === null ? "null" : typeof value}`,
    );
  }
  const sources: WebhookSource[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of value.entries()) {
    let source: WebhookSource;
    try {
      source = validateSource(entry, { dev, fixedId: true, path: `webhooks[${i}]` });
    } catch (err) {
      if (!(err instanceof WebhooksError)) throw err;
      throw new ConfigError(
        `--webhooks ${JSON.stringify(path)}: ${err.message.replace(/^\[evt\/webhooks\] /, "")}`,
      );
    }
    if (seen.has(source.id)) {
      throw new ConfigError(
        `--webhooks ${JSON.stringify(path)}: webhooks[${i}].id is the same as an earlier entry's; each source needs its own id`,
      );
    }
    seen.add(source.id);
    sources.push(source);
  }
  return sources;
}
