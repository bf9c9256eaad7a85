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

/** How old a run may be for its id to be read back: older ones are not looked up. */
const MAX_RUN_AGE_MS = 5 * 366 * 86_400_000;
/** Clock skew allowed between the gateway that made the run id and the one reading it. */
const MAX_SKEW_MS = 60_000;

/**
 * The run id a `traceparent` header of {@link runTraceparent} names, or `null` for a missing or
 * malformed header, and for a trace id whose ULID time is not in the last five years (ULIDs
 * start with their creation time): other tracers' trace ids are random, so all but about 0.06%
 * of them are refused here without a run store lookup. Only a candidate: check that the run
 * exists and is running.
 *
 * @example
 * ```ts
 * const runId = runIdOfTraceparent(req.headers.traceparent);
 * const fromRun = runId !== null && (await runs.getRun(runId))?.status === "running";
 * ```
 */
export function runIdOfTraceparent(header: string | undefined, now = Date.now()): string | null {
  if (header === undefined || header.length !== 55) return null;
  const m = TRACEPARENT.exec(header);
  if (m === null) return null;
  const time = Number.parseInt(m[1]!.slice(0, 12), 16);
  if (time > now + MAX_SKEW_MS || time < now - MAX_RUN_AGE_MS) return null;
  return hexToUlid(m[1]!);
}
