import { DedupError } from "../errors.js";
import { isWellFormed } from "../validate.js";

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Checks a table name option (optionally `schema.table` when `allowSchema`) and returns it
 * double-quoted for SQL. Only plain identifiers are accepted, so the name is never an injection.
 */
export function quoteTable(driver: string, table: string, allowSchema: boolean): string {
  const parts = typeof table === "string" ? table.split(".") : [];
  const ok =
    parts.length >= 1 && parts.length <= (allowSchema ? 2 : 1) && parts.every((p) => IDENT.test(p));
  if (!ok) {
    throw new DedupError(
      "invalid_argument",
      `options.table ${JSON.stringify(table)} is not allowed; use letters, digits and _ (not starting with a digit, at most 63)${allowSchema ? ", optionally as schema.table" : ""}`,
      { driver },
    );
  }
  return parts.map((p) => `"${p}"`).join(".");
}

/** Checks a `namespace` option of the SQL drivers. */
export function checkNamespace(driver: string, namespace: string): string {
  if (
    typeof namespace !== "string" ||
    namespace.length > 200 ||
    !isWellFormed(namespace) ||
    namespace.includes("\u0000")
  ) {
    throw new DedupError(
      "invalid_argument",
      `options.namespace must be a string of at most 200 characters without NUL, got ${JSON.stringify(namespace)}`,
      { driver },
    );
  }
  return namespace;
}
