-- ARGV: id, node, now (ms), lease until (ms).
-- Leases one callback: scheduled, or dialing under node's own lease or a
-- lapsed one. Returns {prev state, prev lease node, hash}.
local id, node, now, untl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local h = hkey(id)
local st = redis.call('HGET', h, 'state')
if not st then return redis.error_reply('NOTFOUND ' .. id) end
if is_final(st) then return redis.error_reply('FINISHED ' .. id .. ' ' .. st) end
local prev = redis.call('HGET', h, 'lnode') or ''
if st == 'dialing' and prev ~= node and tonumber(redis.call('HGET', h, 'luntil')) > now then
  return redis.error_reply('BUSY ' .. id .. ' ' .. prev)
end
claim(id, st, node, now, untl)
return {st, prev, redis.call('HGETALL', h)}
