import { DedupError } from "./errors.js";

/**
 * Loads an optional peer dependency, failing with a message that says what to install.
 * Works in the ESM and the CJS build (tsup turns `import()` into `require` for CJS).
 */
export async function importLib<T>(
  driver: string,
  name: string,
  load: () => Promise<unknown>,
): Promise<T> {
  try {
    const mod = (await load()) as { default?: unknown };
    return (mod.default ?? mod) as T;
  } catch (cause) {
    throw new DedupError(
      "missing_dependency",
      `could not load "${name}"; install it next to @evt/dedup (npm install ${name}) or pass your own client`,
      { driver, cause },
    );
  }
}

/**
 * Races `work` against a timer: rejects with a retryable `unavailable` DedupError after
 * `timeoutMs`. The timer never keeps the process alive.
 */
export function withTimeout<T>(
  driver: string,
  what: string,
  timeoutMs: number,
  work: Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new DedupError(
          "unavailable",
          `${what} did not answer within ${timeoutMs} ms (option timeoutMs); the outcome is unknown, retry later`,
          { driver },
        ),
      );
    }, timeoutMs);
    timer.unref?.();
  });
  work.catch(() => {}); // a late failure after the timeout must not become unhandled
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Checks a `timeoutMs` option. */
export function checkTimeout(driver: string, timeoutMs: number | undefined): number {
  const t = timeoutMs ?? 2000;
  if (!Number.isSafeInteger(t) || t < 1) {
    throw new DedupError(
      "invalid_argument",
      `options.timeoutMs must be a positive integer number of milliseconds, got ${String(timeoutMs)}`,
      { driver },
    );
  }
  return t;
}
