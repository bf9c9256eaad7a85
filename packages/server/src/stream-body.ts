import type { ServerResponse } from "node:http";
import type { ApiBodyStream } from "./types.js";

/** Give a body stream up without reading it (its read slot is released). */
export function discardBody(body: string | ApiBodyStream): void {
  if (typeof body !== "string") void body[Symbol.asyncIterator]().return?.();
}

/** Resolves `true` on `drain`, `false` when the response closes or `timeoutMs` passes first. */
function drained(res: ServerResponse, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Write a streamed body (headers already written) with backpressure: the next chunk is made
 * only once the socket took the previous one, and the event loop turns between chunks. A
 * client that reads nothing for `drainTimeoutMs` has its connection destroyed, so a stalled
 * reader cannot pin the page in memory; a failure mid-body destroys the connection too (the
 * status is already sent, a truncated chunked body tells the client). The stream is always
 * finished (`return()`), which releases the read's slot.
 */
export async function writeBody(
  res: ServerResponse,
  body: ApiBodyStream,
  drainTimeoutMs: number,
): Promise<void> {
  const chunks = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (res.destroyed) return;
      const { done, value } = await chunks.next();
      if (done) break;
      if (res.destroyed) return;
      if (res.write(value)) await nextTurn();
      else if (!(await drained(res, drainTimeoutMs))) {
        res.destroy();
        return;
      }
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    await chunks.return?.();
  }
}
