-- ARGV: node, now (ms), lease until (ms), max.
-- Leases up to max callbacks: first dialing ones whose lease lapsed (their
-- node died), then scheduled ones that are due. Returns {prev state, prev
-- lease node, hash} for each.
local node, now, untl, max = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASE, '-inf', now, 'LIMIT', 0, max)) do
  local h = hkey(id)
  local st = redis.call('HGET', h, 'state')
  if st == 'dialing' then
    local prev = redis.call('HGET', h, 'lnode') or ''
    claim(id, st, node, now, untl)
    out[#out + 1] = {st, prev, redis.call('HGETALL', h)}
  else
    redis.call('ZREM', LEASE, id) -- stale index entry
  end
end
if #out < max then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, max - #out)) do
    local h = hkey(id)
    local st = redis.call('HGET', h, 'state')
    if st == 'scheduled' then
      claim(id, st, node, now, untl)
      out[#out + 1] = {st, '', redis.call('HGETALL', h)}
    else
      redis.call('ZREM', DUE, id)
    end
  end
end
return out
