-- ARGV: id, node, now (ms), retry at (ms), reason, retention (ms).
-- Counts a failed attempt of a callback node holds: scheduled again at
-- retry time, or failed after the last attempt. Returns the hash.
local id, node, now, retry, reason, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local h = hkey(id)
local st = redis.call('HGET', h, 'state')
if st ~= 'dialing' or redis.call('HGET', h, 'lnode') ~= node then return holder_error(id, st) end
local attempts = redis.call('HINCRBY', h, 'attempts', 1)
redis.call('HSET', h, 'err', reason, 'updated', now)
if attempts >= tonumber(redis.call('HGET', h, 'max')) then
  set_state(id, st, 'failed')
  finish(id, retention)
else
  redis.call('HSET', h, 'lnode', '', 'luntil', 0, 'due', retry)
  set_state(id, st, 'scheduled')
  redis.call('ZREM', LEASE, id)
  redis.call('ZADD', DUE, retry, id)
end
return redis.call('HGETALL', h)
