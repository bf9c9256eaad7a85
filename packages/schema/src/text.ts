/**
 * The rule for every string of an event (`name`, `id`, `v`, every key and string value inside
 * `data` and `user`): well-formed Unicode (no lone UTF-16 surrogate) without U+0000. JSON text
 * can carry both as escapes (`"\ud800"`, `"\u0000"`), but neither survives every store: a lone
 * surrogate has no UTF-8 form (dedup keys, SQL text) and PostgreSQL `text`/`jsonb` cannot
 * hold U+0000. Rejecting them here keeps every driver accepting the same events.
 */

/** What an issue about a string's characters allows. */
export const TEXT_ALLOWED = "well-formed Unicode text without U+0000";

/** `String.prototype.isWellFormed` (ES2024; typed here because the ES2023 lib lacks it). */
type WellFormed = { isWellFormed(): boolean };

/** Whether this runtime has `String.prototype.isWellFormed` (Node >= 20, browsers since 2023). */
const HAS_IS_WELL_FORMED =
  typeof (String.prototype as Partial<WellFormed>).isWellFormed === "function";

/**
 * Whether `s` is well-formed Unicode without U+0000: two native O(length) scans on the
 * fast path; a plain loop in runtimes without `isWellFormed`.
 */
export function isCleanText(s: string): boolean {
  if (HAS_IS_WELL_FORMED) {
    return (s as unknown as WellFormed).isWellFormed() && s.indexOf("\u0000") === -1;
  }
  return firstBadCharacter(s) === -1;
}

/**
 * Index (UTF-16 code unit, 0-based) of the first U+0000 or lone surrogate in `s`, or -1.
 * Also what {@link isCleanText} uses where `isWellFormed` is missing.
 */
export function firstBadCharacter(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return i;
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const next = s.charCodeAt(i + 1); // NaN past the end
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a surrogate pair
        continue;
      }
    }
    return i; // a high surrogate without its low half, or a low one without its high half
  }
  return -1;
}

/**
 * Why `s` breaks the text rule (`contains U+0000 (NUL) at character 5`, `contains a lone
 * surrogate (\ud800) at character 3`; characters are 0-based UTF-16 indexes, as `s[i]`), or
 * `undefined` when it does not.
 */
export function textProblem(s: string): string | undefined {
  if (isCleanText(s)) return undefined;
  const i = firstBadCharacter(s);
  if (i === -1) return undefined;
  const c = s.charCodeAt(i);
  if (c === 0) return `contains U+0000 (NUL) at character ${i}`;
  return `contains a lone surrogate (\\u${c.toString(16).padStart(4, "0")}) at character ${i}`;
}
