import { createPostgresStore } from "@evt/dedup";
import { migratePostgresStore } from "@evt/store";
import { ConfigError, driverName, type GatewayConfig } from "./config";

/**
 * `evt-gateway migrate`: creates the PostgreSQL tables of the stores given with `--dedup` and
 * `--store` (and `--pg-table-prefix`), the same ones the gateway creates on first use, so that
 * a deployment can run its schema step before the gateways start, with a role that may create
 * tables while the gateways' role may not. Safe to run again and concurrently. Resolves with one
 * line per migrated table.
 *
 * @example
 * ```ts
 * const lines = await migrate(config); // ["dedup table ready: evt_dedup", "event table ready: evt_events"]
 * ```
 */
export async function migrate(config: GatewayConfig): Promise<string[]> {
  const dedupPg = driverName(config.dedup) === "postgres";
  const storePg = driverName(config.store) === "postgres";
  if (!dedupPg && !storePg) {
    throw new ConfigError(
      "migrate has nothing to do: give --dedup postgres://... and/or --store postgres://... (SQLite, memory and Redis need no migration)",
    );
  }
  const prefix = config.pgTablePrefix;
  const lines: string[] = [];
  if (dedupPg) {
    const table = prefix ? `${prefix}dedup` : undefined;
    const dedup = createPostgresStore({ url: config.dedup, ...(table ? { table } : {}) });
    try {
      await dedup.migrate();
    } finally {
      await dedup.close();
    }
    lines.push(`dedup table ready: ${table ?? "driver default"}`);
  }
  if (storePg) {
    const table = prefix ? `${prefix}events` : undefined;
    await migratePostgresStore({ url: config.store, ...(table ? { table } : {}) });
    lines.push(`event table ready: ${table ?? "driver default"}`);
  }
  return lines;
}
