import { afterEach, describe, expect, it } from "vitest";
import { WebhooksError } from "./errors";
import { applyPatch, sourceView, validateSource } from "./source";
import type { WebhookStore } from "./store";

/** Optional behaviours a driver declares; the suite skips by flag, never by driver name. */
export interface WebhookStoreCapabilities {
  /** Two stores from the factory see the same sources (same file, same table). @default true */
  shared?: boolean;
}

/**
 * The conformance suite every `WebhookStore` passes. Call it at the top level of a vitest
 * file; `factory` gives a new store each time, all on one backend (ids are random, so a shared
 * table is fine as long as it is only this suite's). Stores are closed after each case.
 *
 * @example
 * ```ts
 * import { runWebhookStoreConformance } from "@evt/webhooks/testing";
 * import { createMemoryWebhookStore } from "@evt/webhooks/memory";
 * runWebhookStoreConformance("memory", async () => createMemoryWebhookStore(), { shared: false });
 * ```
 */
export function runWebhookStoreConformance(
  name: string,
  factory: () => Promise<WebhookStore>,
  capabilities: WebhookStoreCapabilities = {},
): void {
  const shared = capabilities.shared ?? true;
  describe(`webhook store conformance: ${name}`, () => {
    const open: WebhookStore[] = [];
    const make = async () => {
      const s = await factory();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    const github = (n = "gh") =>
      validateSource({
        name: n,
        verify: { scheme: "github", secret: "first-secret" },
        transform: { name: "'github/' + headers['x-github-event']" },
      });

    it("creates, gets, lists oldest first, and keeps secrets in the store but not in views", async () => {
      const store = await make();
      const a = { ...github("a"), createdAt: 1_000 };
      const b = { ...github("b"), createdAt: 2_000 };
      await store.create(b);
      await store.create(a);
      expect(await store.get(a.id)).toEqual(a);
      const ids = (await store.list()).map((s) => s.id);
      expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
      const stored = await store.get(b.id);
      expect(stored!.verify.secrets).toEqual([{ secret: "first-secret", expiresAt: null }]);
      expect(JSON.stringify(sourceView(stored!))).not.toContain("first-secret");
      expect(await store.get("no-such-id-aaaaaaaaaaaaaaaa")).toBeNull();
    });

    it("refuses a second source with the same id and keeps the first", async () => {
      const store = await make();
      const a = github("first");
      await store.create(a);
      const err = await store.create({ ...a, name: "second" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhooksError);
      expect((err as WebhooksError).code).toBe("conflict");
      expect((await store.get(a.id))!.name).toBe("first");
    });

    it("updates through a change function (a rotation keeps the old secret for the overlap), and a failing change changes nothing", async () => {
      const store = await make();
      const a = github();
      await store.create(a);
      const now = Date.now();
      const next = await store.update(a.id, (s) =>
        applyPatch(
          s,
          { name: "renamed", verify: { secret: "second-secret", overlap: 60 } },
          { now },
        ),
      );
      expect(next!.name).toBe("renamed");
      expect(next!.verify.secrets).toEqual([
        { secret: "second-secret", expiresAt: null },
        { secret: "first-secret", expiresAt: now + 60_000 },
      ]);
      expect(await store.get(a.id)).toEqual(next);
      const err = await store
        .update(a.id, (s) => applyPatch(s, { verify: { scheme: "bogus" } }))
        .catch((e: unknown) => e);
      expect((err as WebhooksError).code).toBe("invalid_source");
      expect(await store.get(a.id)).toEqual(next);
      expect(await store.update("no-such-id-aaaaaaaaaaaaaaaa", (s) => s)).toBeNull();
    });

    it("deletes, saying whether there was a source", async () => {
      const store = await make();
      const a = github();
      await store.create(a);
      expect(await store.delete(a.id)).toBe(true);
      expect(await store.delete(a.id)).toBe(false);
      expect(await store.get(a.id)).toBeNull();
      expect((await store.list()).some((s) => s.id === a.id)).toBe(false);
    });

    // Declared only for drivers that share a backend (a flag, never a driver name).
    if (shared)
      it("shares sources between stores on the same backend", async () => {
        const one = await make();
        const two = await make();
        const a = github();
        await one.create(a);
        expect(await two.get(a.id)).toEqual(a);
        await two.delete(a.id);
        expect(await one.get(a.id)).toBeNull();
      });

    it("rejects use after close with code closed", async () => {
      const store = await factory();
      await store.close();
      await store.close();
      const err = await store.list().catch((e: unknown) => e);
      expect((err as WebhooksError).code).toBe("closed");
    });
  });
}
