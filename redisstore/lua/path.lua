-- path.lua: a call's transfer path, as one atomic step per operation.
--
-- All keys share the call's {call:ID} hash tag.
-- KEYS[1] path list (hop JSON, entry hop first)
-- KEYS[2] seen set: every destination the caller has been at ("topic:X")
--         and every agent who had the caller ("agent:ID")
-- KEYS[3] pending transfer (JSON string), at most one per call
-- ARGV[1] op, ARGV[2] now ms, ARGV[3] op args JSON.
local PATH, SEEN, PENDING = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local args = cjson.decode(ARGV[3])

if op == 'init' then
  if redis.call('LLEN', PATH) == 0 then
    redis.call('RPUSH', PATH, args.hop)
    redis.call('SADD', SEEN, args.dest)
  end
  redis.call('PERSIST', PATH)
  redis.call('PERSIST', SEEN)
  return {'ok'}
end

-- check is the transfer path check. Reply: {code or "", path...,
-- "|", agents...}; an empty code means the pending hop was recorded.
if op == 'check' then
  local path = redis.call('LRANGE', PATH, 0, -1)
  if #path == 0 then return {'nocall'} end
  local code = ''
  if redis.call('SISMEMBER', SEEN, args.dest) == 1 then
    code = 'transfer_loop'
  elseif args.max > 0 and (#path - 1) + 1 > args.max then
    code = 'max_hops'
  elseif redis.call('EXISTS', PENDING) == 1 then
    code = 'transfer_pending'
  else
    redis.call('SET', PENDING, args.pending)
  end
  local r = {code}
  for _, h in ipairs(path) do table.insert(r, h) end
  table.insert(r, '|')
  for _, m in ipairs(redis.call('SMEMBERS', SEEN)) do
    if string.sub(m, 1, 6) == 'agent:' then table.insert(r, string.sub(m, 7)) end
  end
  return r
end

if op == 'commit' then
  local raw = redis.call('GET', PENDING)
  if not raw then return {'notfound'} end
  local p = cjson.decode(raw)
  if p.id ~= args.id then return {'notfound'} end
  local hop = cjson.encode({to = p.to, by = p.by, at = now})
  redis.call('RPUSH', PATH, hop)
  redis.call('SADD', SEEN, p.to)
  redis.call('DEL', PENDING)
  return {'ok', hop}
end

if op == 'drop' then
  local raw = redis.call('GET', PENDING)
  if not raw then return {'notfound'} end
  local p = cjson.decode(raw)
  if p.id ~= args.id then return {'notfound'} end
  redis.call('DEL', PENDING)
  return {'ok'}
end

if op == 'expire' then
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, args.ttl) end
  return {'ok'}
end

return {'badop'}
