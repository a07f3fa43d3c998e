"""The Lua scripts the Redis state runs: each one atomic step, and one round trip, in Redis."""

# Counts a match unless the rule's `times` (ARGV[2]; -1: none) are used up: check and count are one step.
HIT = """
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local limit = tonumber(ARGV[2])
if limit >= 0 and n >= limit then return -1 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
"""

# Appends ARGV[2] entries (JSON objects without an id), each given the next id, then trims to ARGV[1];
# then adds contract coverage's counts (field, count pairs) to the hash KEYS[3]: one call a batch.
APPEND = """
local last = 2 + tonumber(ARGV[2])
for i = 3, last do
  local id = redis.call('INCR', KEYS[2])
  redis.call('RPUSH', KEYS[1], '{"id":' .. id .. ',' .. string.sub(ARGV[i], 2))
end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
for i = last + 1, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
"""

# Keeps one answer with its expiry, and drops the oldest beyond the bound (ARGV[4]).
CACHE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', old[i]) end
end
"""

# Drops one namespace's entries (ARGV[1]) from the journal, keeping the others' order.
FORGET = """
local kept = {}
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if cjson.decode(e)['namespace'] ~= ARGV[1] then kept[#kept + 1] = e end
end
redis.call('DEL', KEYS[1])
for i = 1, #kept do redis.call('RPUSH', KEYS[1], kept[i]) end
"""
