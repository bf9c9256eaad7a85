import type { PreparedEvent } from "./prepare";

/** A contiguous run of events `[start, end)` that fits one request. */
export interface Chunk {
  start: number;
  end: number;
}

/**
 * Splits events, in order, into the fewest contiguous requests the greedy way allows, each
 * with at most `maxEvents` events and a body (`[a,b,...]`) of at most `maxBytes` bytes.
 * Every event must already fit alone (`bytes + 2 <= maxBytes`).
 */
export function planChunks(
  events: readonly PreparedEvent[],
  maxBytes: number,
  maxEvents: number,
): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  let size = 2; // "[" and "]"
  for (let i = 0; i < events.length; i++) {
    const bytes = events[i]!.bytes;
    const count = i - start;
    const added = count === 0 ? bytes : bytes + 1; // "," between events
    if (count > 0 && (count >= maxEvents || size + added > maxBytes)) {
      chunks.push({ start, end: i });
      start = i;
      size = 2 + bytes;
    } else {
      size += added;
    }
  }
  if (start < events.length) chunks.push({ start, end: events.length });
  return chunks;
}

/** The request body for events `[start, end)`. */
export function chunkBody(events: readonly PreparedEvent[], start: number, end: number): string {
  let body = "[";
  for (let i = start; i < end; i++) {
    if (i > start) body += ",";
    body += events[i]!.json;
  }
  return `${body}]`;
}
