import * as nodeCrypto from "node:crypto";

/**
 * Compares presented keys with the configured ones in constant time: both sides are hashed
 * with SHA-256 first, so the comparison always runs over 32 bytes and never leaks a length.
 * Every configured key is compared (no early exit), so the position of a match leaks nothing.
 * The one key check of every route: event keys, API keys, and routes you add around the API.
 *
 * @example
 * ```ts
 * import { bearerToken, KeyMatcher } from "@evt/server";
 *
 * const keys = new KeyMatcher(["read-key-1", "read-key-2"]);
 * keys.matches(bearerToken("Bearer read-key-2")); // true
 * keys.matches("guess"); // false
 * new KeyMatcher([]).open; // true: no keys configured, anything is accepted
 * ```
 */
export class KeyMatcher {
  readonly #digests: Buffer[];
  /**
   * Keys already found, by their exact text: a sender presents the same key on every request,
   * and its SHA-256 is most of the check's cost. Only strings whose digest matched are added, so
   * it holds at most one entry per configured key. A lookup of a wrong key hashes it with the
   * Map's own (per-process seeded) string hash and misses; what it can reveal by its timing is at
   * most that hash's bucket, never a prefix of a key, and the comparison below still runs.
   */
  readonly #found = new Map<string, number>();

  constructor(keys: readonly string[] | undefined) {
    this.#digests = (keys ?? []).filter((k) => k.length > 0).map(digest);
  }

  /** No keys configured: anything is accepted. */
  get open(): boolean {
    return this.#digests.length === 0;
  }

  /** `true` when `presented` is one of the keys (always `true` when none is configured). */
  matches(presented: string | null | undefined): boolean {
    if (this.#digests.length === 0) return true;
    return this.find(presented) >= 0;
  }

  /**
   * The position of the presented key among the configured ones (to look up its scope), or -1
   * (also when no keys are configured). Compares every key, like {@link matches}.
   */
  find(presented: string | null | undefined): number {
    if (!presented || this.#digests.length === 0) return -1;
    const known = this.#found.get(presented);
    if (known !== undefined) return known;
    const d = digest(presented);
    let found = -1;
    for (let i = 0; i < this.#digests.length; i++) {
      if (nodeCrypto.timingSafeEqual(this.#digests[i]!, d) && found < 0) found = i;
    }
    if (found >= 0) this.#found.set(presented, found);
    return found;
  }
}

/** One-shot `crypto.hash` (Node >= 20.12) is several times cheaper than `createHash`. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: "buffer") => Buffer })
  .hash;

function digest(key: string): Buffer {
  return oneShot
    ? oneShot("sha256", key, "buffer")
    : nodeCrypto.createHash("sha256").update(key, "utf8").digest();
}

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, one space,
 * surrounding blanks trimmed), or `null` when the header is missing, another scheme or empty.
 * The one bearer parser of every route.
 *
 * @example
 * ```ts
 * bearerToken("Bearer abc"); // "abc"
 * bearerToken("Basic abc"); // null
 * ```
 */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space).toLowerCase() !== "bearer") return null;
  const token = header.slice(space + 1).trim();
  return token.length > 0 ? token : null;
}
