-- route.lua: every change to agents, queues and offers, as one atomic step.
--
-- All keys share the {r} hash tag, so the script runs on Redis Cluster.
-- KEYS[1] agents hash (id -> agent JSON)
-- KEYS[2] calls hash (id -> call JSON) for queued, ringing and talking calls
-- KEYS[3] offer deadlines zset (call id, or "x:"..call id for a transfer
--         claim -> ring deadline ms), swept if the owning node died
-- KEYS[4] wrap-up deadlines zset (agent id -> due ms)
-- KEYS[5] handle time hash (topic -> EWMA talk time ms)
-- KEYS[6] agent counts hash ("l:"..topic -> agents logged in, "a:"..topic
--         -> agents available, "v" -> present once the counts are built)
-- KEYS[7] node liveness hash (node -> heartbeat expiry ms, from the
--         heartbeating node's clock)
-- KEYS[8..] pairs (queue zset, available-agents zset) for ARGV topics
-- ARGV[1] op, ARGV[2] now ms, ARGV[3] ring timeout ms, ARGV[4] this node,
-- ARGV[5] offer channel prefix, ARGV[6] max pairs, ARGV[7] op args JSON.
--
-- Available-agents zsets are cleaned lazily: an agent taken by one topic
-- stays in its other topics' sets until a dispatch meets the stale entry
-- and drops it, which keeps the keys a decision touches known up front.
--
-- Replies: {"ok", agent JSON or "", call JSON or "", offer JSON...} or
-- {"err", code, detail}.

local AG, CALLS, DUE, WRAP, AHT, CNT, ALIVE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local ring = tonumber(ARGV[3])
local node = ARGV[4]
local chan = ARGV[5]
local maxpairs = tonumber(ARGV[6])
local args = cjson.decode(ARGV[7])

local qkey, akey, topics = {}, {}, {}
local ntopics = (#KEYS - 7) / 2
for i = 1, ntopics do
  local t = args.topics[i]
  topics[i] = t
  qkey[t] = KEYS[6 + 2 * i]
  akey[t] = KEYS[7 + 2 * i]
end

local function num(x) return string.format('%.0f', x) end

-- The agent counts per topic are kept up to date by putagent, so a waiting
-- caller's statistics cost a few field reads instead of decoding every
-- agent. was[id] is an agent's state and topics as stored, taken when it
-- was decoded, so putagent can count the difference.
local was = {}
local function decodeagent(raw)
  local a = cjson.decode(raw)
  was[a.id] = {state = a.state, topics = a.topics}
  return a
end
local function getagent(id)
  local raw = redis.call('HGET', AG, id)
  if not raw then return nil end
  return decodeagent(raw)
end
local function weight(st)
  if st == nil then return 0, 0 end
  local l, v = 0, 0
  if st ~= 'offline' then l = 1 end
  if st == 'available' then v = 1 end
  return l, v
end
local function count(topics, st, sign)
  local l, v = weight(st)
  if l == 0 then return end
  for t, _ in pairs(topics or {}) do
    redis.call('HINCRBY', CNT, 'l:' .. t, sign * l)
    if v ~= 0 then redis.call('HINCRBY', CNT, 'a:' .. t, sign * v) end
  end
end
local function putagent(a)
  local old = was[a.id]
  if old == nil then
    local raw = redis.call('HGET', AG, a.id)
    if raw then decodeagent(raw) end
    old = was[a.id] or {}
  end
  if old.state ~= a.state or old.topics ~= a.topics then
    count(old.topics, old.state, -1)
    count(a.topics, a.state, 1)
    was[a.id] = {state = a.state, topics = a.topics}
  end
  redis.call('HSET', AG, a.id, cjson.encode(a))
end

-- counts rebuilds the agent counts from the agents if they are missing
-- (a new or emptied Redis), then returns topic t's logged-in and available
-- agents.
local function counts(t)
  if redis.call('HEXISTS', CNT, 'v') == 0 then
    redis.call('DEL', CNT)
    for _, raw in ipairs(redis.call('HVALS', AG)) do
      local x = cjson.decode(raw)
      count(x.topics, x.state, 1)
    end
    redis.call('HSET', CNT, 'v', '1')
  end
  local r = redis.call('HMGET', CNT, 'l:' .. t, 'a:' .. t)
  return tonumber(r[1]) or 0, tonumber(r[2]) or 0
end
local function getcall(id)
  local raw = redis.call('HGET', CALLS, id)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function putcall(c) redis.call('HSET', CALLS, c.id, cjson.encode(c)) end

local function availscore(a, t)
  return num((tonumber(a.topics[t]) or 0) * 1e13 + a.idle)
end

-- missing returns the agent's topics that have no keys in this call.
local function missing(a)
  local m = {}
  for t, _ in pairs(a.topics) do
    if not akey[t] then table.insert(m, t) end
  end
  return m
end

local offers = {}

local function offer_json(c, a, deadline, kind)
  return cjson.encode({call = c.id, case = c.case, topic = c.topic, node = c.node,
    cb = c.cb, deadline = deadline, kind = kind, agent = a})
end

-- scan is how many queue entries a dispatch reads at a time looking past
-- dead nodes' callers for a live one. It reads on to the end of the
-- queue if it must: a dead node's callers cost a longer script, never a
-- live caller's turn.
local scan = 64

-- alive tells whether node n is running: its heartbeat has not lapsed.
-- A caller with no node recorded, and the node deciding now, count as
-- alive. A dead node's callers keep their places and are offered again
-- once it heartbeats; offering them meanwhile would ring an agent for a
-- call nobody can connect, until the sweep frees them, over and over.
local live = {}
local function alive(n)
  if n == nil or n == '' or n == node then return true end
  if live[n] == nil then
    local exp = tonumber(redis.call('HGET', ALIVE, n))
    live[n] = exp ~= nil and exp >= now
  end
  return live[n]
end

-- livehead returns topic t's first queued caller whose node is alive and
-- their queue score (nil if none). Entries of calls no longer queued are
-- dropped on the way.
local function livehead(t)
  local qk = qkey[t]
  local from = 0
  while true do
    local ents = redis.call('ZRANGE', qk, from, from + scan - 1, 'WITHSCORES')
    if #ents == 0 then return nil end
    local dropped = 0
    for i = 1, #ents, 2 do
      local c = getcall(ents[i])
      if not c or c.state ~= 'queued' then
        redis.call('ZREM', qk, ents[i])
        dropped = dropped + 1
      elseif alive(c.node) then
        return c, tonumber(ents[i + 1])
      end
    end
    from = from + #ents / 2 - dropped
  end
end

-- pair offers caller c, queued in topic t, to the topic's best available
-- agent. Returns true if a pair was made, false when no agent is free.
local function pair(t, c)
  local qk, ak = qkey[t], akey[t]
  while true do
    local cands = redis.call('ZRANGE', ak, 0, 0)
    if #cands == 0 then return false end
    local a = getagent(cands[1])
    if not a or a.state ~= 'available' or a.topics[t] == nil then
      redis.call('ZREM', ak, cands[1])
    else
      redis.call('ZREM', qk, c.id)
      redis.call('ZREM', ak, a.id)
      c.state = 'ringing'
      c.agent = a.id
      c.deadline = now + ring
      putcall(c)
      a.state = 'ringing'
      a.call = c.id
      a.since = now
      putagent(a)
      redis.call('ZADD', DUE, num(c.deadline), c.id)
      local o = offer_json(c, a, c.deadline, 'queue')
      if c.node ~= node then redis.call('PUBLISH', chan .. c.node, o) end
      table.insert(offers, o)
      return true
    end
  end
end

-- dispatch pairs callers and agents in the given topics, oldest waiting
-- live caller first, until no pair is possible or maxpairs were made. A
-- topic's live head is looked up again only after it was paired: nothing
-- else in here changes that queue.
local function dispatch(ts)
  local active, heads, scores = {}, {}, {}
  for _, t in ipairs(ts) do if qkey[t] then active[t] = true end end
  local n = 0
  while n < maxpairs do
    local best = nil
    for t, _ in pairs(active) do
      if redis.call('ZCARD', akey[t]) == 0 then
        active[t] = nil
      else
        if heads[t] == nil then heads[t], scores[t] = livehead(t) end
        if heads[t] == nil then
          active[t] = nil
        elseif not best or scores[t] < scores[best] or (scores[t] == scores[best] and t < best) then
          best = t
        end
      end
    end
    if not best then return end
    if pair(best, heads[best]) then
      n = n + 1
      heads[best] = nil
    else
      active[best] = nil
    end
  end
end

local function agent_topics(a)
  local ts = {}
  for t, _ in pairs(a.topics) do table.insert(ts, t) end
  table.sort(ts)
  return ts
end

-- busy is true while an agent has a call: ringing, talking or wrapping up.
local function busy(a)
  return a.state == 'ringing' or a.state == 'on_call' or a.state == 'wrap_up'
end

-- retire deletes an agent removed from the configuration: out of the
-- counts, the available sets (those whose keys this call has; a dispatch
-- drops the rest, as for any agent no longer available), the wrap-up
-- timers and the agents hash.
local function retire(a)
  local old = was[a.id]
  if old then count(old.topics, old.state, -1) end
  was[a.id] = nil
  for t, _ in pairs(a.topics or {}) do
    if akey[t] then redis.call('ZREM', akey[t], a.id) end
  end
  redis.call('ZREM', WRAP, a.id)
  redis.call('HDEL', AG, a.id)
end

-- settle stores an agent whose call is over and who is not freed (paused
-- "no answer", logged out), or retires one removed during the call.
local function settle(a)
  if a.removed then retire(a) else putagent(a) end
end

-- free makes an agent available (or paused, if a pause was asked for
-- during the call) and dispatches their topics; an agent removed from
-- the configuration during the call is retired instead.
local function free(a)
  if a.removed then
    retire(a)
    return
  end
  a.call = ''
  a.since = now
  if a.pause_after and a.pause_after ~= '' then
    a.state = 'paused'
    a.reason = a.pause_after
    a.pause_after = ''
    putagent(a)
    return
  end
  a.state = 'available'
  a.reason = ''
  a.idle = now
  putagent(a)
  for t, _ in pairs(a.topics) do
    redis.call('ZADD', akey[t], availscore(a, t), a.id)
  end
  dispatch(agent_topics(a))
end

local function requeue(c)
  c.state = 'queued'
  c.agent = ''
  c.deadline = 0
  putcall(c)
  redis.call('ZADD', qkey[c.topic], num(c.score), c.id)
end

local function note_handle(topic, ms)
  if not topic or topic == '' or ms < 0 then return end
  local old = tonumber(redis.call('HGET', AHT, topic))
  local alpha = tonumber(args.alpha) or 0.1
  local v = ms
  if old then v = old * (1 - alpha) + ms * alpha end
  redis.call('HSET', AHT, topic, num(v))
end

-- to_wrap ends an agent's talk: wrap-up if configured, else free at once.
local function to_wrap(a, topic)
  note_handle(topic, now - a.since)
  local wrap = tonumber(args.wrap) or 0
  if wrap > 0 then
    a.state = 'wrap_up'
    a.since = now
    a.call = ''
    putagent(a)
    redis.call('ZADD', WRAP, num(now + wrap), a.id)
  else
    free(a)
  end
end

local function reply(a, c)
  local r = {'ok', a and cjson.encode(a) or '', c and cjson.encode(c) or ''}
  for _, o in ipairs(offers) do table.insert(r, o) end
  return r
end
local function err(code, detail) return {'err', code, detail or ''} end

-- anydead tells whether some other node's heartbeat has lapsed.
local anydead = nil
local function some_dead()
  if anydead == nil then
    anydead = false
    local h = redis.call('HGETALL', ALIVE)
    for i = 1, #h, 2 do
      if h[i] ~= node and tonumber(h[i + 1]) < now then anydead = true end
    end
  end
  return anydead
end

-- stats is what a waiting caller is told about topic t. A dead node's
-- callers are in no one's way (they are not offered, see alive): while a
-- node is dead they are left out of positions and the queue's length,
-- at the price of reading the whole queue; otherwise both are one call.
local function stats(c, t)
  local logged, avail = counts(t)
  c.logged = logged
  c.avail = avail
  c.aht = tonumber(redis.call('HGET', AHT, t)) or 0
  if now > 0 and some_dead() then
    local queued, pos = 0, 0
    for _, id in ipairs(redis.call('ZRANGE', qkey[t], 0, -1)) do
      if id == c.id then
        pos = queued + 1 -- c's own place, whatever its node
        if alive(c.node) then queued = queued + 1 end
      else
        local x = getcall(id)
        if x and x.state == 'queued' and alive(x.node) then queued = queued + 1 end
      end
    end
    c.queued, c.pos = queued, pos
    return c
  end
  c.queued = redis.call('ZCARD', qkey[t])
  local rank = redis.call('ZRANK', qkey[t], c.id)
  if rank then c.pos = rank + 1 else c.pos = 0 end
  return c
end

local function need(a)
  local m = missing(a)
  if #m > 0 then return err('keys', cjson.encode(m)) end
  return nil
end

-- holding returns agent id if they are in state for call cid, else nil;
-- and, second, the error reply to return if their topics' keys are
-- missing (they are about to be freed or sent to wrap-up).
local function holding(id, state, cid)
  if not id or id == '' then return nil end
  local x = getagent(id)
  if not x or x.state ~= state or x.call ~= cid then return nil end
  return x, need(x)
end

-- The operations.

if op == 'sync' then
  -- Agents gone from the configuration stop taking calls: one who is idle
  -- is deleted now; one ringing, talking or in wrap-up is marked removed
  -- and deleted when that ends (retire), so their call is not cut.
  local cfgs = args.agents or {}
  local keep = {}
  for _, cfg in ipairs(cfgs) do keep[cfg.id] = true end
  local gone, miss = {}, {}
  for _, raw in ipairs(redis.call('HVALS', AG)) do
    local x = decodeagent(raw)
    if not keep[x.id] then
      table.insert(gone, x)
      if not busy(x) then
        for _, t in ipairs(missing(x)) do table.insert(miss, t) end
      end
    end
  end
  if #miss > 0 then return err('keys', cjson.encode(miss)) end
  for _, x in ipairs(gone) do
    if busy(x) then
      if not x.removed then
        x.removed = true
        putagent(x)
      end
    else
      retire(x)
    end
  end
  for _, cfg in ipairs(cfgs) do
    local a = getagent(cfg.id)
    if not a then
      a = {id = cfg.id, state = 'offline', reason = '', since = now, idle = now,
        call = '', pause_after = ''}
    end
    a.name, a.endpoint, a.senior, a.topics = cfg.name, cfg.endpoint, cfg.senior, cfg.topics
    a.removed = nil
    putagent(a)
    if a.state == 'available' then
      for t, _ in pairs(a.topics) do
        if akey[t] then redis.call('ZADD', akey[t], availscore(a, t), a.id) end
      end
    end
  end
  -- No dispatch here: the caller dispatches so the offers reach it.
  return reply(nil, nil)
end

if op == 'enqueue' then
  local in_ = args.call
  local c = getcall(in_.id)
  if c then
    if c.state ~= 'queued' and c.state ~= 'ringing' then return err('busy', c.state) end
    -- A call waits in one topic: asked to wait in another, it is refused
    -- (this script has only the other topic's keys).
    if c.topic ~= in_.topic then return err('busy', 'waiting in ' .. tostring(c.topic)) end
    c.node, c.cb, c.lang, c.number = in_.node, in_.cb, in_.lang, in_.number
    putcall(c)
  else
    c = in_
    c.state = 'queued'
    c.agent = ''
    c.deadline = 0
    if not c.score or c.score == 0 then c.score = now end
    c.enq = c.score
    putcall(c)
    redis.call('ZADD', qkey[c.topic], num(c.score), c.id)
  end
  dispatch({c.topic})
  c = getcall(c.id)
  if c.state == 'queued' then stats(c, c.topic) else c.pos = 0 end
  return reply(nil, c)
end

if op == 'info' then
  local c = getcall(args.call)
  if not c then return err('notfound', args.call) end
  if not qkey[c.topic] then return err('keys', cjson.encode({c.topic})) end
  return reply(nil, stats(c, c.topic))
end

if op == 'stats' then
  return reply(nil, stats({id = ''}, args.topic))
end

-- alive records this node's heartbeat: it is running until args.expires.
-- The reply's call field says whether it was dead before ("revived"),
-- so the node dispatches its callers who were skipped meanwhile.
if op == 'alive' then
  local exp = tonumber(redis.call('HGET', ALIVE, node))
  redis.call('HSET', ALIVE, node, num(args.expires))
  return reply(nil, {id = '', revived = exp == nil or exp < now})
end

if op == 'dispatch' then
  dispatch(topics)
  return reply(nil, nil)
end

-- takeover gives this node a waiting caller of a dead node (heartbeat
-- lapsed), whose channel this node can reach (one Asterisk for both):
-- the call keeps its place and state, its node becomes this one. Only
-- one node can win it; a live node's caller is refused.
if op == 'takeover' then
  local c = getcall(args.call)
  if not c then return err('notfound', args.call) end
  if c.state ~= 'queued' then return err('illegal', 'call is ' .. c.state) end
  if alive(c.node) then return err('illegal', 'node ' .. tostring(c.node) .. ' is alive') end
  -- An agent may be free (the dead node's caller was passed over): the
  -- dispatch needs the topic's keys, which the store learns from here.
  if not qkey[c.topic] then return err('keys', cjson.encode({c.topic})) end
  c.node = node
  putcall(c)
  dispatch({c.topic})
  return reply(nil, getcall(c.id))
end

if op == 'leave' then
  local c = getcall(args.call)
  if not c then return err('notfound', args.call) end
  local a = nil
  if c.state == 'queued' then
    if not qkey[c.topic] then return err('keys', cjson.encode({c.topic})) end
    redis.call('ZREM', qkey[c.topic], c.id)
  elseif c.state == 'ringing' then
    local e
    a, e = holding(c.agent, 'ringing', c.id)
    if e then return e end
  else
    return err('illegal', c.state)
  end
  redis.call('HDEL', CALLS, c.id)
  redis.call('ZREM', DUE, c.id)
  c.state = 'ended'
  if a then free(a) end
  return reply(a, c)
end

if op == 'sweep' then
  local member = args.member
  local stale = tonumber(args.stale)
  local score = tonumber(redis.call('ZSCORE', DUE, member))
  if not score or score > stale then return reply(nil, nil) end
  local c = getcall(args.call)
  if not c then
    redis.call('ZREM', DUE, member)
    return reply(nil, nil)
  end
  local transfer = string.sub(member, 1, 2) == 'x:'
  local aid = c.agent
  if transfer then aid = c.xagent end
  local a, e = holding(aid, 'ringing', c.id)
  if e then return e end
  if not transfer and c.state == 'ringing' and not c.direct and not qkey[c.topic] then
    return err('keys', cjson.encode({c.topic}))
  end
  redis.call('ZREM', DUE, member)
  if transfer then
    if c.state == 'consulting' then
      c.state = 'connected'
      c.xagent = ''
      putcall(c)
    end
  elseif c.state == 'ringing' and c.direct then
    redis.call('HDEL', CALLS, c.id)
  elseif c.state == 'ringing' then
    requeue(c)
  end
  if a then
    -- The agent was never at fault: a node died between offer and answer.
    free(a)
  end
  dispatch({c.topic})
  return reply(a, c)
end

-- claimfor rings one agent for a call that is not in any queue (a
-- callback dialled agent first): the named agent if available, or the
-- longest-idle available senior operator. The call is recorded as direct:
-- it has no queue place to go back to.
if op == 'claimfor' then
  if getcall(args.call) then return err('busy', args.call) end
  local b = nil
  if args.kind == 'agent' then
    local cand = getagent(args.dest)
    if cand and cand.state == 'available' then b = cand end
  else
    for _, raw in ipairs(redis.call('HVALS', AG)) do
      local x = decodeagent(raw)
      if x.senior == true and x.state == 'available' and (not b or x.idle < b.idle or (x.idle == b.idle and x.id < b.id)) then
        b = x
      end
    end
  end
  if not b then return err('unavailable', args.dest or 'senior') end
  local c = {id = args.call, case = args.case or '', topic = args.topic or '', number = args.number or '', lang = args.lang or '',
    node = node, agent = b.id, state = 'ringing', score = now, enq = now, cb = args.cb or '',
    deadline = now + ring, direct = true}
  putcall(c)
  b.state = 'ringing'
  b.call = c.id
  b.since = now
  putagent(b)
  redis.call('ZADD', DUE, num(c.deadline), c.id)
  return reply(b, c)
end

-- claim rings a transfer target for a connected call.
if op == 'claim' then
  local c = getcall(args.call)
  if not c then return err('notfound', args.call) end
  if c.state ~= 'connected' or c.agent ~= args.by then return err('illegal', c.state) end
  local excl = {}
  for _, id in ipairs(args.exclude or {}) do excl[id] = true end
  local b = nil
  if args.kind == 'agent' then
    local cand = getagent(args.dest)
    if cand and cand.state == 'available' and not excl[cand.id] then b = cand end
  else
    local ak = akey[args.dest]
    local ids = redis.call('ZRANGE', ak, 0, -1)
    for _, id in ipairs(ids) do
      local cand = getagent(id)
      if not cand or cand.state ~= 'available' or cand.topics[args.dest] == nil then
        redis.call('ZREM', ak, id)
      elseif not excl[id] then
        b = cand
        break
      end
    end
  end
  if not b then return err('unavailable', args.dest) end
  for t, _ in pairs(b.topics) do
    if akey[t] then redis.call('ZREM', akey[t], b.id) end
  end
  b.state = 'ringing'
  b.call = c.id
  b.since = now
  putagent(b)
  c.state = 'consulting'
  c.xagent = b.id
  putcall(c)
  redis.call('ZADD', DUE, num(now + ring), 'x:' .. c.id)
  return reply(b, c)
end

-- Agent operations from here on.
local a = getagent(args.agent)
if not a then return err('notfound', args.agent) end
local st = a.state

if op == 'login' then
  if st ~= 'offline' then return err('illegal', st) end
  local e = need(a)
  if e then return e end
  a.pause_after = ''
  free(a)
  return reply(a, nil)
end

if op == 'pause' then
  if st == 'available' then
    a.state = 'paused'
    a.reason = args.reason
    a.since = now
    putagent(a)
  elseif st == 'ringing' or st == 'on_call' or st == 'wrap_up' then
    a.pause_after = args.reason
    putagent(a)
  else
    return err('illegal', st)
  end
  return reply(a, nil)
end

if op == 'resume' then
  if st == 'paused' then
    local e = need(a)
    if e then return e end
    free(a)
  elseif (st == 'ringing' or st == 'on_call' or st == 'wrap_up') and (a.pause_after or '') ~= '' then
    -- (A pause asked for with no reason is stored as none: nil.)
    a.pause_after = ''
    putagent(a)
  else
    return err('illegal', st)
  end
  return reply(a, nil)
end

if op == 'logout' then
  if st ~= 'available' and st ~= 'paused' and st ~= 'wrap_up' then return err('illegal', st) end
  redis.call('ZREM', WRAP, a.id)
  for t, _ in pairs(a.topics) do
    if akey[t] then redis.call('ZREM', akey[t], a.id) end
  end
  a.state = 'offline'
  a.reason = ''
  a.since = now
  a.call = ''
  a.pause_after = ''
  settle(a)
  return reply(a, nil)
end

if op == 'wrapend' then
  if st ~= 'wrap_up' then
    redis.call('ZREM', WRAP, a.id)
    return reply(a, nil)
  end
  local due = tonumber(redis.call('ZSCORE', WRAP, a.id))
  if due and due > now then return reply(a, nil) end
  local e = need(a)
  if e then return e end
  redis.call('ZREM', WRAP, a.id)
  free(a)
  return reply(a, nil)
end

-- Operations on the agent's current call.
local c = getcall(args.call)
if not c then return err('notfound', args.call) end

if op == 'answered' then
  if st ~= 'ringing' or a.call ~= c.id or c.state ~= 'ringing' or c.agent ~= a.id then
    return err('illegal', st)
  end
  a.state = 'on_call'
  a.since = now
  putagent(a)
  c.state = 'connected'
  c.deadline = 0
  putcall(c)
  redis.call('ZREM', DUE, c.id)
  return reply(a, c)
end

if op == 'noanswer' then
  if st ~= 'ringing' or a.call ~= c.id or c.state ~= 'ringing' or c.agent ~= a.id then
    return err('illegal', st)
  end
  if not c.direct and not qkey[c.topic] then return err('keys', cjson.encode({c.topic})) end
  redis.call('ZREM', DUE, c.id)
  a.state = 'paused'
  a.reason = args.reason
  a.since = now
  a.call = ''
  a.pause_after = ''
  settle(a)
  if c.direct then
    redis.call('HDEL', CALLS, c.id)
    c.state = 'ended'
    return reply(a, c)
  end
  requeue(c)
  dispatch({c.topic})
  return reply(a, getcall(c.id))
end

-- release takes back an offer that failed through no fault of the agent
-- (a node stopped or restarted): the caller goes back to their place and
-- the agent is freed as the sweep frees them, into a pause they asked for
-- if they did.
if op == 'release' then
  if st ~= 'ringing' or a.call ~= c.id or c.state ~= 'ringing' or c.agent ~= a.id then
    return err('illegal', st)
  end
  if not c.direct and not qkey[c.topic] then return err('keys', cjson.encode({c.topic})) end
  local e = need(a)
  if e then return e end
  redis.call('ZREM', DUE, c.id)
  if c.direct then
    redis.call('HDEL', CALLS, c.id)
    c.state = 'ended'
  else
    requeue(c)
  end
  free(a)
  if not c.direct then dispatch({c.topic}) end
  return reply(a, getcall(c.id) or c)
end

if op == 'endcall' then
  if st ~= 'on_call' or a.call ~= c.id then return err('illegal', st) end
  local e = need(a)
  if e then return e end
  -- A consult in progress dies with the call: free its target too.
  local b = nil
  if c.state == 'consulting' then
    local eb
    b, eb = holding(c.xagent, 'ringing', c.id)
    if eb then return eb end
  end
  redis.call('HDEL', CALLS, c.id)
  redis.call('ZREM', DUE, c.id)
  redis.call('ZREM', DUE, 'x:' .. c.id)
  if b then free(b) end
  c.state = 'ended'
  to_wrap(a, c.topic)
  return reply(a, c)
end

-- For xanswered, xaccept and xrelease, args.agent is the claimed target.

-- xanswered: the target picked up. Their ring deadline no longer applies:
-- it moves to the consult's own limit (args.xuntil), so the sweep (for a
-- node that died) does not free a target in the middle of a consult.
if op == 'xanswered' then
  if c.state ~= 'consulting' or c.xagent ~= a.id or st ~= 'ringing' or a.call ~= c.id then
    return err('illegal', st)
  end
  redis.call('ZADD', DUE, 'XX', num(args.xuntil), 'x:' .. c.id)
  return reply(a, c)
end

if op == 'xaccept' then
  if c.state ~= 'consulting' or c.xagent ~= a.id or st ~= 'ringing' or a.call ~= c.id then
    return err('illegal', st)
  end
  local old, e = holding(c.agent, 'on_call', c.id)
  if e then return e end
  redis.call('ZREM', DUE, 'x:' .. c.id)
  a.state = 'on_call'
  a.since = now
  putagent(a)
  local prev_topic = c.topic
  c.agent = a.id
  c.xagent = ''
  c.state = 'connected'
  if args.topic and args.topic ~= '' then c.topic = args.topic end
  putcall(c)
  if old then to_wrap(old, prev_topic) end
  return reply(a, c)
end

if op == 'xrelease' then
  if c.state ~= 'consulting' or c.xagent ~= a.id then return err('illegal', c.state) end
  local ringing = st == 'ringing' and a.call == c.id
  if ringing and not args.noanswer then
    local e = need(a)
    if e then return e end
  end
  redis.call('ZREM', DUE, 'x:' .. c.id)
  c.state = 'connected'
  c.xagent = ''
  putcall(c)
  if ringing then
    if args.noanswer then
      a.state = 'paused'
      a.reason = args.reason
      a.since = now
      a.call = ''
      a.pause_after = ''
      settle(a)
    else
      free(a)
    end
  end
  return reply(a, c)
end

return err('badop', op)
