import { WebhooksError } from "./errors";

/** Loads an optional peer dependency, failing with a message that says what to install. */
export async function importLib<T>(
  driver: string,
  name: string,
  load: () => Promise<unknown>,
): Promise<T> {
  try {
    const mod = (await load()) as { default?: unknown };
    return (mod.default ?? mod) as T;
  } catch (cause) {
    throw new WebhooksError(
      "missing_dependency",
      `could not load "${name}"; install it next to @evt/webhooks (npm install ${name}) or pass your own client`,
      { driver, cause },
    );
  }
}

/** A table prefix: a plain identifier start. */
export function checkPrefix(driver: string, prefix: string): string {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) {
    throw new WebhooksError(
      "invalid_source",
      `tablePrefix ${JSON.stringify(prefix)} must be 1 to 41 of a-z 0-9 _, not starting with a digit`,
      { driver },
    );
  }
  return prefix;
}
