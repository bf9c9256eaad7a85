import { describeError } from "./errors";
import type { ExecutorLogger } from "./executor";

/** Options of {@link createAppSyncer}. */
export interface AppSyncerOptions {
  /** The serve URLs of the apps (`http://127.0.0.1:3000/api/inngest`). */
  urls: readonly string[];
  /** Sent as `x-inngest-server-kind`: `dev` for `evt-gateway dev`, `cloud` for `start`. */
  serverKind: "dev" | "cloud";
  /** Sign the PUT body (`x-inngest-signature`), in `start` with a signing key. */
  sign?(body: string): string;
  /** Re-sync every app this often (new functions after an app restart). @default 60_000 */
  intervalMs?: number;
  /** First retry delay of an app that does not answer; doubles up to 10 s. @default 1_000 */
  retryMs?: number;
  /** Time allowed for one sync. @default 10_000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
  logger?: ExecutorLogger;
}

/** The last sync of an app. */
export interface AppSyncState {
  url: string;
  ok: boolean | null;
  error: string | null;
  at: number | null;
}

/** Keeps apps synced: see {@link createAppSyncer}. */
export interface AppSyncer {
  start(): void;
  /** Sync one app (or all) now, e.g. when a call found a function the app does not know. */
  syncNow(url?: string): Promise<void>;
  states(): AppSyncState[];
  stop(): void;
}

const silent: ExecutorLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Sync apps the way Inngest's servers do: `PUT <serve url>` with `{ "url": ... }`, after
 * which the SDK posts its functions to `/fn/register`. An app that does not answer is retried
 * (1 s, 2 s, ... 10 s); every app is synced again every `intervalMs`.
 *
 * @example
 * ```ts
 * import { createAppSyncer } from "@evt/functions";
 *
 * const syncer = createAppSyncer({ urls: ["http://127.0.0.1:3000/api/inngest"], serverKind: "dev" });
 * syncer.start();
 * ```
 */
export function createAppSyncer(options: AppSyncerOptions): AppSyncer {
  const intervalMs = options.intervalMs ?? 60_000;
  const retryMs = options.retryMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const doFetch = options.fetch ?? fetch;
  const logger = options.logger ?? silent;
  const states = new Map<
    string,
    AppSyncState & { timer: NodeJS.Timeout | null; failures: number }
  >();
  for (const url of options.urls)
    states.set(url, { url, ok: null, error: null, at: null, timer: null, failures: 0 });
  let stopped = false;

  function later(state: AppSyncState & { timer: NodeJS.Timeout | null }, ms: number) {
    if (stopped) return;
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = setTimeout(() => void sync(state.url), ms);
    state.timer.unref?.();
  }

  async function sync(url: string): Promise<void> {
    const state = states.get(url);
    if (state === undefined || stopped) return;
    const body = JSON.stringify({ url });
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-inngest-server-kind": options.serverKind,
    };
    if (options.sign) headers["x-inngest-signature"] = options.sign(body);
    let error: string | null = null;
    try {
      const res = await doFetch(url, {
        method: "PUT",
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      if (res.status >= 300) {
        let message = text.slice(0, 300);
        try {
          const parsed = JSON.parse(text) as { message?: unknown };
          if (typeof parsed.message === "string") message = parsed.message;
        } catch {}
        error = `the app answered ${res.status}: ${message}`;
      }
    } catch (err) {
      error = `cannot reach the app: ${describeError((err as { cause?: unknown }).cause ?? err)}`;
    }
    state.at = Date.now();
    if (error === null) {
      if (state.ok !== true) logger.info({ appUrl: url }, "app synced");
      state.ok = true;
      state.error = null;
      state.failures = 0;
      later(state, intervalMs);
      return;
    }
    if (state.failures === 0 || state.error !== error)
      logger.warn({ appUrl: url, error }, "syncing the app failed; retrying");
    state.ok = false;
    state.error = error;
    state.failures++;
    later(state, Math.min(10_000, retryMs * 2 ** Math.min(state.failures - 1, 10)));
  }

  return {
    start() {
      for (const url of states.keys()) void sync(url);
    },
    async syncNow(url) {
      if (url !== undefined) return sync(url);
      await Promise.all([...states.keys()].map((u) => sync(u)));
    },
    states() {
      return [...states.values()].map(({ url, ok, error, at }) => ({ url, ok, error, at }));
    },
    stop() {
      stopped = true;
      for (const s of states.values()) if (s.timer !== null) clearTimeout(s.timer);
    },
  };
}
