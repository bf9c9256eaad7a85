/**
 * Compare-and-delete, used by `release`.
 *
 * KEYS[1]  the prefixed dedup key
 * ARGV[1]  the value the caller claimed it with
 * Returns  1 when the key held ARGV[1] and was deleted, else 0.
 */
export const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
