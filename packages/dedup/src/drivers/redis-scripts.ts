import { createHash } from "node:crypto";

/** A Lua script with its SHA1, for EVALSHA with an EVAL fallback. */
export interface LuaScript {
  name: string;
  source: string;
  sha: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash("sha1").update(source).digest("hex") };
}

/**
 * claim_batch: claims every key of a batch in one round trip (single-node Redis only: the keys
 * may live in different Cluster slots, so a `Cluster` client uses per-key SET commands instead).
 *
 * KEYS[1..n]     the prefixed dedup keys (distinct)
 * ARGV[1]        the window in milliseconds
 * ARGV[2..n+1]   the value to store for KEYS[i] (ARGV[i+1])
 * Returns        an array of n replies: integer 0 when KEYS[i] was free and is now claimed
 *                (fresh), else the value stored by the first claimer (duplicate).
 */
export const CLAIM_BATCH = script(
  "claim_batch",
  `local ttl = ARGV[1]
local out = {}
for i = 1, #KEYS do
  local old = redis.call('SET', KEYS[i], ARGV[i + 1], 'NX', 'PX', ttl, 'GET')
  if old then out[i] = old else out[i] = 0 end
end
return out
`,
);

/**
 * release_batch: compare-and-delete of every key of a batch (single-node Redis only, as above).
 *
 * KEYS[1..n]     the prefixed dedup keys
 * ARGV[1..n]     the value the caller claimed KEYS[i] with
 * Returns        how many keys were deleted.
 */
export const RELEASE_BATCH = script(
  "release_batch",
  `local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    n = n + redis.call('DEL', KEYS[i])
  end
end
return n
`,
);

/**
 * release_one: compare-and-delete of one key (used per key with a Redis Cluster client).
 *
 * KEYS[1]  the prefixed dedup key
 * ARGV[1]  the value the caller claimed it with
 * Returns  1 when the key held ARGV[1] and was deleted, else 0.
 */
export const RELEASE_ONE = script(
  "release_one",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);
