-- ARGV: dedupe key ('' for none), in-due flag ('1'/'0'), then field/value
-- pairs of the new callback's hash.
-- Returns {1, hash} when created, {0, hash} of the unfinished callback
-- already stored under the dedupe key.
local dk, indue = ARGV[1], ARGV[2]
local f = {}
for i = 3, #ARGV, 2 do f[ARGV[i]] = ARGV[i + 1] end
if dk ~= '' then
  local old = redis.call('GET', dkey(dk))
  if old then
    local st = redis.call('HGET', hkey(old), 'state')
    if st and not is_final(st) then return {0, redis.call('HGETALL', hkey(old))} end
  end
  redis.call('SET', dkey(dk), f.id)
end
local h = hkey(f.id)
if redis.call('EXISTS', h) == 1 then return redis.error_reply('EXISTS ' .. f.id) end
redis.call('HSET', h, unpack(ARGV, 3))
redis.call('HSET', h, 'dk', dk)
redis.call('ZADD', ALL, f.created, f.id)
redis.call('ZADD', stkey(f.state), f.created, f.id)
if indue == '1' then redis.call('ZADD', DUE, f.due, f.id) end
if f.kind == 'owner' and tonumber(f.deadline) > 0 then redis.call('ZADD', DEADLINE, f.deadline, f.id) end
return {1, redis.call('HGETALL', h)}
