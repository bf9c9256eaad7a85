import { Agent, type Dispatcher } from "undici";

/** The answer of {@link httpPost}. */
export interface PostAnswer {
  status: number;
  /** A response header by lower-case name, or `null`. */
  header(name: string): string | null;
  text: string;
}

/** Options of {@link createHttpPost}. */
export interface HttpPostOptions {
  /** Sockets kept open per app origin. @default 256 */
  maxSockets?: number;
  /** Largest answer read, in bytes; a longer one is an error. @default 16 MiB */
  maxBytes?: number;
}

/** A failed POST: the app could not be reached, timed out, or answered too much. */
export class PostError extends Error {
  override readonly name = "PostError";
}

/** Where a URL is sent: its origin (the connection pool) and its path with the query. */
interface Target {
  origin: string;
  path: string;
}

/** Most URLs kept parsed (an app has one step URL, so a few are in use). */
const MAX_TARGETS = 1_024;

/**
 * `POST` over keep-alive sockets with undici's dispatcher (one pool per app origin): what the
 * executor calls apps with. Measured beside a bare endpoint, about half the CPU per call of
 * `node:http` with its keep-alive agent, which itself did twice the calls per second of `fetch`.
 */
export function createHttpPost(options: HttpPostOptions = {}) {
  const maxSockets = options.maxSockets ?? 256;
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  // Each call's own `timeoutMs` bounds it, not the agent's timeouts (300 s by default).
  const agent = new Agent({ connections: maxSockets, headersTimeout: 0, bodyTimeout: 0 });
  const targets = new Map<string, Target>();
  function targetOf(url: string): Target | null {
    let target = targets.get(url);
    if (target !== undefined) return target;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
    if (targets.size >= MAX_TARGETS) targets.clear();
    target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    targets.set(url, target);
    return target;
  }
  function post(
    url: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<PostAnswer> {
    return new Promise((resolve, reject) => {
      const target = targetOf(url);
      if (target === null) {
        reject(new PostError(`not a URL: ${url}`));
        return;
      }
      if (signal.aborted) {
        reject(signal.reason instanceof Error ? signal.reason : new PostError("aborted"));
        return;
      }
      let settled = false;
      /** The request's switch, once undici started it. */
      let request: Dispatcher.DispatchController | null = null;
      let failure: Error | null = null;
      const settle = () => {
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const fail = (error: Error) => {
        if (settled) return;
        settle();
        failure = error;
        if (request !== null && !request.aborted) request.abort(error);
        reject(error);
      };
      const onAbort = () =>
        fail(signal.reason instanceof Error ? signal.reason : new PostError("aborted"));
      const timer = setTimeout(
        () => fail(new PostError(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      signal.addEventListener("abort", onAbort, { once: true });
      let status = 0;
      let answerHeaders: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        agent.dispatch(
          { origin: target.origin, path: target.path, method: "POST", headers, body },
          {
            onRequestStart(controller) {
              request = controller;
              // Failed (timed out, aborted) while it waited for a socket.
              if (failure !== null) controller.abort(failure);
            },
            onResponseStart(_controller, statusCode, h) {
              status = statusCode;
              answerHeaders = h;
            },
            onResponseData(_controller, chunk) {
              size += chunk.length;
              if (size > maxBytes) {
                fail(new PostError(`the answer is larger than ${maxBytes} bytes`));
                return;
              }
              chunks.push(chunk);
            },
            onResponseEnd() {
              if (settled) return;
              settle();
              const h = answerHeaders;
              resolve({
                status,
                header(name) {
                  const v = h[name];
                  return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
                },
                text:
                  chunks.length === 1
                    ? chunks[0]!.toString("utf8")
                    : Buffer.concat(chunks).toString("utf8"),
              });
            },
            onResponseError(_controller, error) {
              fail(error);
            },
          },
        );
      } catch (error) {
        fail(error instanceof Error ? error : new PostError(String(error)));
      }
    });
  }
  return {
    post,
    close() {
      void agent.destroy().catch(() => {});
    },
  };
}
