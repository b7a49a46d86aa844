-- ARGV: id, node, now (ms), due (ms, or '' to park it as a queue entry).
-- Gives node's lease back without counting an attempt. Returns the hash.
local id, node, now, due = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local h = hkey(id)
local st = redis.call('HGET', h, 'state')
if st ~= 'dialing' or redis.call('HGET', h, 'lnode') ~= node then return holder_error(id, st) end
redis.call('HSET', h, 'lnode', '', 'luntil', 0, 'updated', now)
set_state(id, st, 'scheduled')
redis.call('ZREM', LEASE, id)
if due ~= '' then
  redis.call('HSET', h, 'due', due)
  redis.call('ZADD', DUE, due, id)
end
return redis.call('HGETALL', h)
