-- ARGV: id, due (ms). Takes a scheduled callback out of the due index if it
-- is still due at exactly that time (nothing happened to it since).
local id, due = ARGV[1], tonumber(ARGV[2])
local score = redis.call('ZSCORE', DUE, id)
if score and tonumber(score) == due and redis.call('HGET', hkey(id), 'state') == 'scheduled' then
  redis.call('ZREM', DUE, id)
  return 1
end
return 0
