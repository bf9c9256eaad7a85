import { createMemoryEventStore, type EventStore } from "@evt/store";

/**
 * An event store whose appends wait until `release()` is called (then pass freely), to hold
 * requests in flight. `whenWaiting(n)` resolves once `n` appends are waiting.
 */
export function gatedStore() {
  const inner = createMemoryEventStore();
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let waiting = 0;
  const watchers: { n: number; resolve: () => void }[] = [];
  const store: EventStore = {
    driver: "gated",
    async append(events) {
      waiting++;
      for (const w of watchers.filter((w) => w.n <= waiting)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
      await gate;
      return inner.append(events);
    },
    get: (id, env) => inner.get(id, env),
    has: (ids, env) => inner.has(ids, env),
    list: (q) => inner.list(q),
    deleteReceivedBefore: (c) => inner.deleteReceivedBefore(c),
    listEnvs: () => inner.listEnvs(),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return {
    store,
    get waiting() {
      return waiting;
    },
    whenWaiting(n: number): Promise<void> {
      if (waiting >= n) return Promise.resolve();
      return new Promise<void>((resolve) => watchers.push({ n, resolve }));
    },
    release() {
      open();
    },
  };
}
