import type { WebhookSource } from "./types";

/**
 * Where webhook sources live. Sources are stored whole, secrets included (verification needs
 * them); show them only through `sourceView`, which leaves the secrets out. Every driver passes
 * `runWebhookStoreConformance` from `@evt/webhooks/testing`.
 */
export interface WebhookStore {
  /** `memory`, `sqlite`, `postgres`. */
  readonly driver: string;
  /** Stores a new source; rejects with `conflict` when its id is taken. */
  create(source: WebhookSource): Promise<void>;
  /** The source with that id, or `null`. */
  get(id: string): Promise<WebhookSource | null>;
  /** Every source, oldest first. */
  list(): Promise<WebhookSource[]>;
  /**
   * Replaces a source by what `change` makes of it, atomically (no other update in between).
   * `null` when there is no such source; an error thrown by `change` rejects and changes nothing.
   */
  update(
    id: string,
    change: (current: WebhookSource) => WebhookSource,
  ): Promise<WebhookSource | null>;
  /** Removes a source; `false` when there was none. */
  delete(id: string): Promise<boolean>;
  /** Releases what the store opened (not a client you passed in). Safe to call twice. */
  close(): Promise<void>;
}
