-- ARGV: now (ms), max attempts of the senior callback, max escalations,
-- retention (ms).
-- Escalates scheduled owner callbacks past their deadline: each ends in
-- state escalated, pointing to a new senior callback (id ID-senior, due
-- now) that points back. Dialing ones are in progress and left alone.
-- Returns {old hash, new hash} pairs.
local now, maxatt, max, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', DEADLINE, '-inf', now)) do
  if #out >= max then break end
  local h = hkey(id)
  local st = redis.call('HGET', h, 'state')
  if st == 'scheduled' then
    local nid = id .. '-senior'
    local nh = hkey(nid)
    local c = redis.call('HMGET', h, 'case', 'number', 'topic', 'lang', 'note')
    redis.call('HSET', nh, 'id', nid, 'case', c[1], 'number', c[2], 'topic', c[3], 'lang', c[4], 'note', c[5],
      'owner', '', 'kind', 'senior', 'state', 'scheduled', 'due', now, 'deadline', 0,
      'attempts', 0, 'max', maxatt, 'lnode', '', 'luntil', 0, 'created', now, 'updated', now,
      'call', nid, 'enq', 0, 'from', id, 'to', '', 'err', '', 'dk', '')
    redis.call('ZADD', ALL, now, nid)
    redis.call('ZADD', stkey('scheduled'), now, nid)
    redis.call('ZADD', DUE, now, nid)
    redis.call('HSET', h, 'to', nid, 'updated', now)
    set_state(id, st, 'escalated')
    finish(id, retention)
    out[#out + 1] = {redis.call('HGETALL', h), redis.call('HGETALL', nh)}
  elseif st ~= 'dialing' then
    redis.call('ZREM', DEADLINE, id)
  end
end
return out
