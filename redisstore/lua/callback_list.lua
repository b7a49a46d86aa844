-- ARGV: state, owner, case id ('' matches all).
-- Returns the matching hashes, oldest first, and drops index entries whose
-- hash has expired.
local state, owner, case = ARGV[1], ARGV[2], ARGV[3]
local idx = ALL
if state ~= '' then idx = stkey(state) end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local h = hkey(id)
  local v = redis.call('HMGET', h, 'state', 'owner', 'case')
  if not v[1] then
    redis.call('ZREM', idx, id)
    redis.call('ZREM', ALL, id)
  elseif (state == '' or v[1] == state) and (owner == '' or v[2] == owner) and (case == '' or v[3] == case) then
    out[#out + 1] = redis.call('HGETALL', h)
  end
end
return out
