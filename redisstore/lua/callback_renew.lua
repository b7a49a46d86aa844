-- ARGV: node, lease until (ms), ids...
-- Extends node's leases, even lapsed ones nobody took over yet. Returns the
-- ids node no longer holds.
local node, untl = ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local h = hkey(id)
  if redis.call('HGET', h, 'state') == 'dialing' and redis.call('HGET', h, 'lnode') == node then
    redis.call('HSET', h, 'luntil', untl)
    redis.call('ZADD', LEASE, untl, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
