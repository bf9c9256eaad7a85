const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/i;
const DURATION_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration such as `500ms`, `10s`, `5m`, `24h` or `30d` into milliseconds.
 * Returns `undefined` when the text is not a duration (a bare number has no unit and is refused,
 * so `30` is never silently read as 30 ms).
 *
 * @example
 * ```ts
 * parseDuration("24h"); // 86_400_000
 * parseDuration("abc"); // undefined
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * DURATION_MS[m[2]!.toLowerCase()]!;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

const BYTES = /^(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|m|mib|gb|g|gib)?$/i;
const BYTES_MULT: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 * 1024,
  mb: 1024 * 1024,
  mib: 1024 * 1024,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a size such as `512kb`, `1mb`, `1gb` or `65536` (bytes) into bytes. `kb`, `mb` and `gb` are binary
 * (1 kb = 1024 bytes), matching the 512 KiB default of the Event API.
 *
 * @example
 * ```ts
 * parseBytes("512kb"); // 524_288
 * ```
 */
export function parseBytes(text: string): number | undefined {
  const m = BYTES.exec(text.trim());
  if (!m) return undefined;
  const n = Math.floor(Number(m[1]) * BYTES_MULT[(m[2] ?? "b").toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Formats milliseconds the way the flags take them (`24h`, `10s`, `1500ms`), for messages. */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    const size = DURATION_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
