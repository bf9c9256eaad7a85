/** Default environment when no `x-inngest-env` / `x-evt-env` header is given. */
export const DEFAULT_ENV = "production";

const ENV_MAX = 64;

/** `[A-Za-z0-9._\-/]`, checked without a regex (it runs on every request). */
function isEnvChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 65 && c <= 90) || // A-Z
    (c >= 48 && c <= 57) || // 0-9
    c === 46 || // .
    c === 95 || // _
    c === 45 || // -
    c === 47 // /
  );
}

/** `null` when `value` is a valid environment name, else what is wrong with it. */
export function envProblem(value: string): string | null {
  if (value.length === 0 || value.length > ENV_MAX) {
    return `has ${value.length} characters`;
  }
  for (let i = 0; i < value.length; i++) {
    if (!isEnvChar(value.charCodeAt(i)))
      return `contains ${JSON.stringify(value[i])} at position ${i}`;
  }
  return null;
}

export const ENV_ALLOWED = "1 to 64 characters of A-Z a-z 0-9 . _ - /";

/** Short, printable rendition of a client-sent value for an error message. */
export function quote(value: string, max = 40): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A 26-character ULID (Crockford base 32, upper case, first char 0-7). */
export function isUlid(value: string): boolean {
  if (value.length !== 26) return false;
  for (let i = 0; i < 26; i++) {
    if (!CROCKFORD.includes(value[i]!)) return false;
  }
  return value.charCodeAt(0) <= 55; // '7'
}

/** Non-negative safe integer written in plain digits, or `null`. */
export function parseIntParam(value: string): number | null {
  if (value.length === 0 || value.length > 16) return null;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/** Longest `x-request-id` passed on to the Event API (and its logs). */
const REQUEST_ID_MAX = 128;

/** The client's `x-request-id` when it is at most 128 characters, else `undefined`. */
export function clientRequestId(header: string | undefined): string | undefined {
  return header !== undefined && header.length <= REQUEST_ID_MAX ? header : undefined;
}
