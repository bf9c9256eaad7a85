/** What an event or API key may hold. */
export const KEY = /^[A-Za-z0-9._~+/=-]{1,256}$/;

/** What is wrong with a key list, without printing any of its keys. */
export function keyProblem(value: unknown): string {
  if (!Array.isArray(value)) return "is not valid (not a list of keys)";
  const at = value.findIndex((k) => typeof k !== "string" || !KEY.test(k));
  const bad: unknown = value[at];
  const where = value.length > 1 ? `key ${at + 1} of ${value.length}` : "the key";
  if (typeof bad !== "string") return `${where} is not valid (not a string)`;
  if (bad.length === 0) return `${where} is empty`;
  if (bad.length > 256) return `${where} is not valid (${bad.length} characters)`;
  const char = [...bad].find((c) => !/[A-Za-z0-9._~+/=-]/.test(c)) ?? "";
  const code = char.codePointAt(0) ?? 0;
  const named =
    char === " "
      ? "a space"
      : code > 0x20 && code < 0x7f
        ? JSON.stringify(char)
        : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return `${where} is not valid (${named} is not allowed; the key itself is not shown)`;
}

/**
 * A driver URL with its password replaced by `***`, for error messages:
 * `postgres://u:secret@h/db` -> `postgres://u:***@h/db`. Everything between the `:` after the
 * user name and the last `@` is masked, so a password holding `/` or `@` is masked whole.
 *
 * @example
 * ```ts
 * maskPassword("postgres://evt:hunter2@db:5432/evt"); // "postgres://evt:***@db:5432/evt"
 * ```
 */
export function maskPassword(text: string): string {
  const start = text.indexOf("//");
  const at = text.lastIndexOf("@");
  if (start < 0 || at < start) return text;
  const colon = text.indexOf(":", start + 2);
  if (colon < 0 || colon > at) return text;
  return `${text.slice(0, colon + 1)}***${text.slice(at)}`;
}
