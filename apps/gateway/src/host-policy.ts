import type { GatewayConfig } from "./config";

/** Names a gateway always answers for: a browser or a health check on the same machine. */
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"] as const;

const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);

/** `true` for a listen address that means every interface (`0.0.0.0`, `::`). */
export function isWildcard(host: string): boolean {
  return WILDCARD.has(host);
}

/** `true` for a listen address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Which `Host` values a gateway serves, and what to warn about at start. */
export interface HostPolicy {
  /** For `listen({ allowedHosts })`; `undefined`: any Host. */
  allowedHosts: string[] | undefined;
  /** Warnings to log at start. */
  warnings: string[];
}

/**
 * The `Host` check of a gateway (DNS rebinding): the listen address, the loopback names and
 * `--allowed-hosts`. On a wildcard address (`0.0.0.0`, `::`) the gateway cannot know the names
 * clients use: `dev` (any key, open reads) then serves the loopback names and `--allowed-hosts`
 * only; `start` (keys required for everything) serves any Host unless `--allowed-hosts` is
 * given, with a warning, so that containers behind proxies and service names keep working.
 *
 * @example
 * ```ts
 * hostPolicy(resolveConfig({ mode: "dev" })).allowedHosts; // ["127.0.0.1", "localhost", "::1"]
 * ```
 */
export function hostPolicy(config: GatewayConfig): HostPolicy {
  const warnings: string[] = [];
  const extra = config.allowedHosts;
  if (!isWildcard(config.host)) {
    return { allowedHosts: [...new Set([config.host, ...LOOPBACK_HOSTS, ...extra])], warnings };
  }
  if (extra.length > 0) return { allowedHosts: [...LOOPBACK_HOSTS, ...extra], warnings };
  if (config.mode === "dev") {
    warnings.push(
      `listening on every interface (${config.host}) in development mode: requests name localhost, 127.0.0.1 or [::1] only, others get 421; pass --allowed-hosts <name> for the names other machines use`,
    );
    return { allowedHosts: [...LOOPBACK_HOSTS], warnings };
  }
  warnings.push(
    `listening on every interface (${config.host}) without --allowed-hosts: any Host header is served; pass --allowed-hosts <name> (the names clients use) to refuse the others with 421`,
  );
  return { allowedHosts: undefined, warnings };
}
