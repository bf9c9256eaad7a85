import { DedupError, type DedupStore } from "@evt/dedup";
import { expect } from "vitest";

const DAY = 86_400_000;

/**
 * Every operation of a store that cannot reach its server rejects with a retryable
 * `unavailable` DedupError naming the driver; never an answer it does not know. Closes the store.
 */
export async function expectEveryCallUnavailable(s: DedupStore, driver: string): Promise<void> {
  try {
    for (const call of [
      () => s.claim([{ key: "k", value: "v" }], DAY),
      () => s.release([{ key: "k", value: "v" }]),
      () => s.ping(),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DedupError);
      expect(err).toMatchObject({ code: "unavailable", retryable: true, driver });
      expect((err as Error).message).toMatch(new RegExp(`^\\[evt/dedup\\] \\[${driver}\\] `));
    }
  } finally {
    await s.close();
  }
}
