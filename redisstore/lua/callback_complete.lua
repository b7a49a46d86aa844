-- ARGV: id, node, now (ms), retention (ms).
-- Completes a callback node holds. Returns {1, hash}; {0, hash} if node
-- had already completed it.
local id, node, now, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local h = hkey(id)
local st = redis.call('HGET', h, 'state')
local holder = redis.call('HGET', h, 'lnode')
if st == 'completed' and holder == node then return {0, redis.call('HGETALL', h)} end
if st == 'completed' then return redis.error_reply('LEASE ' .. id .. ' completed') end
if st ~= 'dialing' or holder ~= node then return holder_error(id, st) end
redis.call('HSET', h, 'updated', now)
set_state(id, st, 'completed')
finish(id, retention)
return {1, redis.call('HGETALL', h)}
