/**
 * The run behind a call, carried in the W3C `traceparent` header. evt sends every call of a
 * run with the run id as the trace id; the `inngest` SDK forwards `traceparent` (and
 * `tracestate`) on the requests it makes while handling the call, among them the Event API
 * request of `step.sendEvent`. So the Event API can tell that an event comes from a run, and
 * which one, by reading the trace id back (and checking that the run is running: a header
 * alone proves nothing, any sender can write one).
 */

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** A ULID's 128 bits as 32 hex digits, or `null` when `id` is not a ULID. */
function ulidToHex(id: string): string | null {
  if (!ULID.test(id) || id.charCodeAt(0) > 55 /* "7": more than 128 bits */) return null;
  let n = 0n;
  for (const c of id) n = (n << 5n) | BigInt(CROCKFORD.indexOf(c));
  return n.toString(16).padStart(32, "0");
}

function hexToUlid(hex: string): string {
  let n = BigInt(`0x${hex}`);
  let out = "";
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)]! + out;
    n >>= 5n;
  }
  return out;
}

/**
 * The `traceparent` of a call of run `runId`: version 00, the run id as trace id, `spanId`
 * (16 hex digits) as parent id, sampled. `null` when the run id is not a ULID (no header then).
 *
 * @example
 * ```ts
 * runTraceparent("01JD5ZQ8W5N6X9M0C2G7T4R1AB", "00f067aa0ba902b7");
 * // "00-0192cbfb...-00f067aa0ba902b7-01"
 * ```
 */
export function runTraceparent(runId: string, spanId: string): string | null {
  const hex = ulidToHex(runId);
  if (hex === null || hex === "0".repeat(32) || !/^[0-9a-f]{16}$/.test(spanId)) return null;
  return `00-${hex}-${spanId}-01`;
}

/**
 * The run id a `traceparent` header of {@link runTraceparent} names, or `null` for a missing or
 * malformed header. Only a candidate: check that the run exists and is running.
 *
 * @example
 * ```ts
 * const runId = runIdOfTraceparent(req.headers.traceparent);
 * const fromRun = runId !== null && (await runs.getRun(runId))?.status === "running";
 * ```
 */
export function runIdOfTraceparent(header: string | undefined): string | null {
  if (header === undefined || header.length !== 55) return null;
  const m = TRACEPARENT.exec(header);
  return m === null ? null : hexToUlid(m[1]!);
}
