import { WebhooksError } from "./errors";
import type { WebhookStore } from "./store";
import type { WebhookSource } from "./types";

const copy = (s: WebhookSource): WebhookSource => structuredClone(s);

/**
 * Webhook sources in this process's memory (tests, dev): nothing survives a restart.
 *
 * @example
 * ```ts
 * import { createMemoryWebhookStore } from "@evt/webhooks/memory";
 * const store = createMemoryWebhookStore();
 * await store.create(validateSource({ name: "gh", verify: { scheme: "github", secret: "s" } }));
 * ```
 */
export function createMemoryWebhookStore(): WebhookStore {
  const sources = new Map<string, WebhookSource>();
  let closed = false;
  const open = () => {
    if (closed) throw new WebhooksError("closed", "the store is closed", { driver: "memory" });
  };
  return {
    driver: "memory",
    async create(source) {
      open();
      if (sources.has(source.id)) {
        throw new WebhooksError(
          "conflict",
          `a webhook source with id ${source.id.slice(0, 4)}... exists already`,
          { driver: "memory" },
        );
      }
      sources.set(source.id, copy(source));
    },
    async get(id) {
      open();
      const s = sources.get(id);
      return s === undefined ? null : copy(s);
    },
    async list() {
      open();
      return [...sources.values()]
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
        .map(copy);
    },
    async update(id, change) {
      open();
      const s = sources.get(id);
      if (s === undefined) return null;
      const next = change(copy(s));
      sources.set(id, copy({ ...next, id }));
      return copy({ ...next, id });
    },
    async delete(id) {
      open();
      return sources.delete(id);
    },
    async close() {
      closed = true;
    },
  };
}
