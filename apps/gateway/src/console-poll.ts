import { type RunStore, runView } from "@evt/functions";
import type { EventStore, StoredEvent } from "@evt/store";
import type { Logger } from "pino";
import { eventMessage, type GatewayConsole } from "./console";

/** Options of {@link startSharedStream}. */
export interface SharedStreamOptions {
  store: EventStore;
  runs: RunStore;
  page: GatewayConsole;
  logger: Logger;
  /** Time between two reads of the store while a stream is open. @default 1_000 */
  intervalMs?: number;
  /**
   * How far back each read looks before the previous one: an event's `received_at` is taken
   * before its append commits, so another gateway's event can become visible after a read
   * that covered its time. Also bounds the clock skew between gateways that is tolerated.
   * @default 5_000
   */
  overlapMs?: number;
}

/** The poller of {@link startSharedStream}. */
export interface SharedStream {
  /**
   * Claim an event this gateway is about to publish itself: `false` when a read of the store
   * already published it (then do not publish it again); later reads skip it.
   */
  claim(event: StoredEvent): boolean;
  /** One read of the store now (tests); resolves when its events are published. */
  poll(): Promise<void>;
  stop(): void;
}

/** Pages read per environment and read: a burst past 5,000 events in one second is cut. */
const MAX_PAGES = 5;

/**
 * The console's live stream across gateways sharing one event store (PostgreSQL): while a
 * stream is open, reads the events received since the last read (through the read API's
 * `since` filter and cursor), in `production` and every environment this gateway has
 * published in, and publishes those it did not publish itself, oldest first, each with the
 * runs it has at that moment. Another gateway's later run status changes are not streamed:
 * the event and run pages read them.
 */
export function startSharedStream(options: SharedStreamOptions): SharedStream {
  const { store, runs, page, logger } = options;
  const intervalMs = options.intervalMs ?? 1_000;
  const overlapMs = options.overlapMs ?? 5_000;
  const envs = new Set<string>(["production"]);
  /** internal ids published lately (here or read back), with their `received_at`. */
  const published = new Map<string, number>();
  let watermark = Date.now();
  let running: Promise<void> | null = null;
  let failing = false;

  async function readEnv(env: string, since: number): Promise<StoredEvent[]> {
    const fresh: StoredEvent[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const got: Awaited<ReturnType<EventStore["list"]>> = await store.list({
        env,
        since,
        limit: 1000,
        cursor,
      });
      for (const e of got.events) if (!published.has(e.internal_id)) fresh.push(e);
      cursor = got.cursor;
      if (cursor === null) break;
    }
    return fresh;
  }

  async function poll(): Promise<void> {
    const started = Date.now();
    if (page.streams === 0) {
      // Nobody watches: the next stream starts from now, not from history.
      watermark = started;
      published.clear();
      return;
    }
    const since = watermark - overlapMs;
    const fresh: StoredEvent[] = [];
    for (const env of envs) fresh.push(...(await readEnv(env, since)));
    fresh.sort((a, b) =>
      a.received_at !== b.received_at
        ? a.received_at - b.received_at
        : a.internal_id < b.internal_id
          ? -1
          : 1,
    );
    for (const e of fresh) {
      published.set(e.internal_id, e.received_at);
      page.publish(eventMessage(e));
      for (const run of await runs.listRunsForEvent(e.internal_id)) {
        page.publish({
          kind: "run",
          run: {
            run_id: run.runId,
            function_id: run.functionId,
            event_id: run.eventInternalId,
            status: runView(run).status as string,
          },
        });
      }
    }
    watermark = started;
    // Forget what no later read can return.
    for (const [id, at] of published) if (at < since - overlapMs) published.delete(id);
  }

  const timer = setInterval(() => {
    running ??= poll()
      .then(
        () => {
          if (failing) logger.info({}, "console stream: reading the shared store works again");
          failing = false;
        },
        (err: unknown) => {
          if (!failing) {
            logger.warn(
              { err },
              "console stream: reading the shared store for other gateways' events failed; retrying",
            );
          }
          failing = true;
        },
      )
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();

  return {
    claim(event) {
      envs.add(event.env);
      if (published.has(event.internal_id)) return false;
      published.set(event.internal_id, event.received_at);
      return true;
    },
    poll: () => (running ??= poll().finally(() => (running = null))),
    stop() {
      clearInterval(timer);
    },
  };
}
