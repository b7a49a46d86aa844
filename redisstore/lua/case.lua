-- case.lua: changes to one case that must be atomic.
--
-- All keys share the case's {case:ID} hash tag.
-- KEYS[1] case hash, KEYS[2] path list (hop JSON), KEYS[3] agents list
-- ARGV[1] op, ARGV[2] now ms, ARGV[3] op args JSON.
local CASE, PATH, AGENTS = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local now = ARGV[2]
local args = cjson.decode(ARGV[3])

if redis.call('EXISTS', CASE) == 0 then return {'notfound'} end

if op == 'note' then
  redis.call('HSET', CASE, 'note', args.note, 'updated', now)
  return {'ok'}
end

-- rate counts the first rating only, attached to the last agent the caller
-- talked to.
if op == 'rate' then
  local old = tonumber(redis.call('HGET', CASE, 'rating')) or 0
  if old ~= 0 then return {'ok', '0'} end
  local by = redis.call('LINDEX', AGENTS, -1) or ''
  redis.call('HSET', CASE, 'rating', args.score, 'rated_by', by, 'updated', now)
  return {'ok', '1'}
end

-- keepttl gives the path and agents lists the case's own expiry once it
-- is closed, so a list a late write creates expires with the case.
local function keepttl()
  local ttl = redis.call('PTTL', CASE)
  if ttl > 0 then
    redis.call('PEXPIRE', PATH, ttl)
    redis.call('PEXPIRE', AGENTS, ttl)
  end
end

-- close replies with the caller number (whose index the store drops
-- next) and how many agents the caller talked to. The case's keys expire
-- after the retention, args.ttl ms.
if op == 'close' then
  redis.call('HSET', CASE, 'status', 'closed', 'updated', now)
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, args.ttl) end
  return {'ok', redis.call('HGET', CASE, 'number') or '', tostring(redis.call('LLEN', AGENTS))}
end

if op == 'talked' then
  redis.call('HSETNX', CASE, 'owner', args.agent)
  if (redis.call('HGET', CASE, 'owner') or '') == '' then
    redis.call('HSET', CASE, 'owner', args.agent)
  end
  if redis.call('LINDEX', AGENTS, -1) ~= args.agent then
    redis.call('RPUSH', AGENTS, args.agent)
  end
  redis.call('HSET', CASE, 'updated', now)
  keepttl()
  return {'ok'}
end

if op == 'hop' then
  redis.call('RPUSH', PATH, args.hop)
  redis.call('HSET', CASE, 'updated', now)
  keepttl()
  return {'ok'}
end

return {'badop'}
