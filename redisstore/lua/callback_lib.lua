-- Shared prelude of every callback script; redisstore prepends it.
-- KEYS[1] is the key prefix ending in the {cb} hash tag (e.g.
-- "hotline:{cb}:"). Every key below is derived from it, so all of them sit
-- in one Cluster slot; the per-callback hash keys cannot be declared up
-- front because the claim scripts find them in the indexes.
local P = KEYS[1]
local DUE = P .. 'due'           -- zset: scheduled callbacks by due time (ms)
local LEASE = P .. 'lease'       -- zset: dialing callbacks by lease expiry (ms)
local DEADLINE = P .. 'deadline' -- zset: unfinished owner callbacks by deadline (ms)
local ALL = P .. 'all'           -- zset: every callback by creation time (ms)

local function hkey(id) return P .. 'cb:' .. id end
local function stkey(s) return P .. 'st:' .. s end
local function dkey(k) return P .. 'dedupe:' .. k end

local function is_final(st)
  return st == 'completed' or st == 'failed' or st == 'escalated'
end

local function set_state(id, old, new)
  local h = hkey(id)
  local created = redis.call('HGET', h, 'created')
  if old then redis.call('ZREM', stkey(old), id) end
  redis.call('ZADD', stkey(new), created, id)
  redis.call('HSET', h, 'state', new)
end

-- finish drops a final callback from the work indexes and its dedupe key,
-- and lets its hash expire after the retention period.
local function finish(id, retention)
  local h = hkey(id)
  redis.call('ZREM', DUE, id)
  redis.call('ZREM', LEASE, id)
  redis.call('ZREM', DEADLINE, id)
  local dk = redis.call('HGET', h, 'dk')
  if dk and dk ~= '' and redis.call('GET', dkey(dk)) == id then
    redis.call('DEL', dkey(dk))
  end
  if tonumber(retention) > 0 then redis.call('PEXPIRE', h, retention) end
end

-- claim leases a callback to node until untl (state dialing).
local function claim(id, st, node, now, untl)
  local h = hkey(id)
  redis.call('HSET', h, 'lnode', node, 'luntil', untl, 'updated', now)
  if st ~= 'dialing' then set_state(id, st, 'dialing') end
  redis.call('ZREM', DUE, id)
  redis.call('ZADD', LEASE, untl, id)
end

-- holder_error explains why node may not act on a callback it does not hold.
local function holder_error(id, st)
  if not st then return redis.error_reply('NOTFOUND ' .. id) end
  if is_final(st) then return redis.error_reply('FINISHED ' .. id .. ' ' .. st) end
  return redis.error_reply('LEASE ' .. id .. ' ' .. st)
end

