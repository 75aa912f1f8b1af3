package redis

import (
	goredis "github.com/redis/go-redis/v9"
)

// sessionLive reports whether a session key exists and its deadline (in
// the server's clock, set by every renewal) has not passed. The deadline
// matters where Redis has not expired the key yet although its time is
// up: commands held by CLIENT PAUSE run after the pause with key expiry
// still suspended, and would otherwise renew or use a session whose TTL
// ran out during the pause.
const sessionLive = `
local clock
local function now()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end

local function sessionLive(key)
  local dl = redis.call('HGET', key, 'deadline')
  return dl ~= false and dl ~= nil and now() <= tonumber(dl)
end
`

// The resource scripts share a preamble. Their keys are KEYS[1..4] = rev,
// meta, val, log of one resource; on a single node or Sentinel Put also
// passes KEYS[5..6] = the session key and the session's resource set.
// ARGV[1] = channel, ARGV[2] = history length, ARGV[3] = session key
// prefix ("" in Cluster: no session checks inside the script), ARGV[4] =
// comma-separated ids of sessions known dead, ARGV[5] = resource name; the
// operation's own arguments follow from ARGV[6].
//
// Every reply is {status, rev, createRev, modRev, entries}, entries a flat
// list of (key, value, session, createRev, modRev) in creation order.
//
// An event, in the log and on the channel, is
// "<p|d> <rev> <createRev> <modRev> <len(key)> <len(session)>\n" followed
// by key, session and value.
const preamble = sessionLive + `
local revKey, metaKey, valKey, logKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local chan, hist, sessPrefix, resource = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[5]
local dead, alive = {}, {}
if ARGV[4] ~= '' then
  for id in string.gmatch(ARGV[4], '[^,]+') do dead[id] = true end
end

local E = {}
do
  local all = redis.call('HGETALL', metaKey)
  for i = 1, #all, 2 do
    local c, m, s = string.match(all[i+1], '^(%d+) (%d+) (.*)$')
    if c then E[all[i]] = {tonumber(c), tonumber(m), s} end
  end
end

local function curRev()
  return tonumber(redis.call('GET', revKey) or '0')
end

-- nextRev increments the counter. A counter that starts again at 1 while
-- the log or entries hold later revisions was lost: it resumes above them.
local function nextRev()
  local r = redis.call('INCR', revKey)
  if r == 1 then
    local top = 0
    local last = redis.call('LINDEX', logKey, -1)
    if last then top = tonumber(string.match(last, '^%a (%d+)')) or 0 end
    for _, e in pairs(E) do
      if e[1] > top then top = e[1] end
      if e[2] > top then top = e[2] end
    end
    if top >= r then
      r = top + 1
      redis.call('SET', revKey, r)
    end
  end
  return r
end

-- emit appends an event to the log and publishes it. The log is trimmed
-- lazily: back to the last hist events once it holds more than a quarter
-- over (RPUSH returns the length), so that most events cost no LTRIM.
local function emit(t, rev, key, e, value)
  local ev = t .. ' ' .. rev .. ' ' .. e[1] .. ' ' .. e[2] .. ' ' .. #key .. ' ' .. #e[3] .. '\n' .. key .. e[3] .. value
  if redis.call('RPUSH', logKey, ev) > hist + math.floor(hist / 4) then
    redis.call('LTRIM', logKey, -hist, -1)
  end
  redis.call('PUBLISH', chan, ev)
end

-- isDead checks each session once per run.
local function isDead(s)
  if dead[s] then return true end
  if alive[s] or sessPrefix == '' then return false end
  if not sessionLive(sessPrefix .. '{' .. s .. '}') then
    dead[s] = true
    return true
  end
  alive[s] = true
  return false
end

local function remove(key)
  local e = E[key]
  E[key] = nil
  redis.call('HDEL', metaKey, key)
  redis.call('HDEL', valKey, key)
  local rev = nextRev()
  emit('d', rev, key, e, '')
  if sessPrefix ~= '' then
    for _, o in pairs(E) do
      if o[3] == e[3] then return rev end
    end
    redis.call('SREM', sessPrefix .. '{' .. e[3] .. '}:r', resource)
  end
  return rev
end

local function purge()
  local gone
  for k, e in pairs(E) do
    if isDead(e[3]) then
      gone = gone or {}
      gone[#gone+1] = {k, e[1]}
    end
  end
  if not gone then return end
  table.sort(gone, function(a, b) return a[2] < b[2] end)
  for _, g in ipairs(gone) do remove(g[1]) end
end

-- flat lists the entries in creation order. The value of ownKey, when
-- given, is ownValue; the others come from one HGETALL of the value hash,
-- made only if there are others.
local function flat(ownKey, ownValue)
  local keys = {}
  for k in pairs(E) do keys[#keys+1] = k end
  if #keys > 1 then
    table.sort(keys, function(a, b) return E[a][1] < E[b][1] end)
  end
  local vals = {}
  if #keys > 1 or (#keys == 1 and keys[1] ~= ownKey) then
    local all = redis.call('HGETALL', valKey)
    for i = 1, #all, 2 do vals[all[i]] = all[i+1] end
  end
  if ownKey then vals[ownKey] = ownValue end
  local out = {}
  for _, k in ipairs(keys) do
    local e = E[k]
    out[#out+1] = k
    out[#out+1] = vals[k] or ''
    out[#out+1] = e[3]
    out[#out+1] = e[1]
    out[#out+1] = e[2]
  end
  return out
end

purge()
`

// putScript: ARGV[6] key, [7] value, [8] session, [9] ifAbsent, [10]
// withRange. A session that purge found alive is not read again.
var putScript = goredis.NewScript(putSource)

// putSource is the put script's source, for EVAL.
const putSource = preamble + putBody

const putBody = `
local key, value, sess = ARGV[6], ARGV[7], ARGV[8]
local withRange = ARGV[10] == '1'
if dead[sess] then return {'expired', curRev(), 0, 0, {}} end
if KEYS[5] then
  if not alive[sess] and not sessionLive(KEYS[5]) then return {'expired', curRev(), 0, 0, {}} end
  redis.call('SADD', KEYS[6], resource)
end
local old = E[key]
if old and ARGV[9] == '1' then
  local out = {}
  if withRange then out = flat() end
  return {'exists', curRev(), old[1], old[2], out}
end
local rev = nextRev()
local c = rev
if old then c = old[1] end
E[key] = {c, rev, sess}
redis.call('HSET', metaKey, key, c .. ' ' .. rev .. ' ' .. sess)
redis.call('HSET', valKey, key, value)
emit('p', rev, key, E[key], value)
local out = {}
if withRange then out = flat(key, value) end
return {'ok', rev, c, rev, out}
`

// updateScript: ARGV[6] key, [7] value, [8] expected modRev, [9] expected
// resource revision (0: any), compared after dead sessions' entries are
// removed, since their removal changes the resource too.
var updateScript = goredis.NewScript(preamble + `
local key, value = ARGV[6], ARGV[7]
local e = E[key]
if not e then return {'notfound', curRev(), 0, 0, {}} end
if e[2] ~= tonumber(ARGV[8]) then return {'mismatch', curRev(), e[1], e[2], {}} end
local wantRes = tonumber(ARGV[9])
if wantRes ~= 0 and curRev() ~= wantRes then return {'stale', curRev(), e[1], e[2], {}} end
local rev = nextRev()
e[2] = rev
redis.call('HSET', metaKey, key, e[1] .. ' ' .. rev .. ' ' .. e[3])
redis.call('HSET', valKey, key, value)
emit('p', rev, key, e, value)
return {'ok', rev, e[1], rev, {}}
`)

// deleteScript: ARGV[6] key, [7] expected modRev (0: any), [8]
// withRange: the entries left after the delete.
var deleteScript = goredis.NewScript(deleteSource)

// deleteSource is the delete script's source, for EVAL.
const deleteSource = preamble + deleteBody

const deleteBody = `
local key = ARGV[6]
local e = E[key]
if not e then return {'notfound', curRev(), 0, 0, {}} end
local want = tonumber(ARGV[7])
if want ~= 0 and e[2] ~= want then return {'mismatch', curRev(), e[1], e[2], {}} end
local c, m = e[1], e[2]
local rev = remove(key)
local out = {}
if ARGV[8] == '1' then out = flat() end
return {'ok', rev, c, m, out}
`

// rangeScript removes the entries of dead sessions and returns the rest.
var rangeScript = goredis.NewScript(preamble + `
return {'ok', curRev(), 0, 0, flat()}
`)

// historyScript: KEYS[1] rev, KEYS[2] log; ARGV[1] fromRev. It returns
// {current revision, 1 if the log reaches back to fromRev else 0, events
// with a revision >= fromRev...}. The log's revisions increase and none
// is above the current one, so its last cur-fromRev+1 events hold every
// event from fromRev on: the script reads only those, and the whole log
// only if they do not reach back to fromRev.
var historyScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local from = tonumber(ARGV[1])
if from > cur then return {cur, 1} end
local function rev(ev) return tonumber(string.match(ev, '^%a (%d+)')) end
local n = cur - from + 1
local evs = redis.call('LRANGE', KEYS[2], -n, -1)
local first = evs[1] and rev(evs[1])
if not (first and first <= from) and #evs == n then
  evs = redis.call('LRANGE', KEYS[2], 0, -1)
end
local out = {cur, 0}
for i, ev in ipairs(evs) do
  local r = rev(ev)
  if i == 1 and r and r <= from then out[2] = 1 end
  if r and r >= from then out[#out+1] = ev end
end
return out
`)

// openSource: KEYS[1] session; ARGV[1] ttl in ms, then field/value pairs
// of the session's metadata, each field prefixed "m:".
// It is sent with EVAL inside a pipeline.
const openSource = sessionLive + `
redis.call('HSET', KEYS[1], 'ttl', ARGV[1], 'deadline', now() + tonumber(ARGV[1]), unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`

// keepAliveScript: KEYS[1] session. It returns the TTL in ms, or -1 when
// the session is gone.
var keepAliveScript = goredis.NewScript(sessionLive + `
if not sessionLive(KEYS[1]) then
  redis.call('DEL', KEYS[1])
  return -1
end
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl'))
redis.call('HSET', KEYS[1], 'deadline', now() + ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
return ttl
`)

// attachScript (Cluster): KEYS[1] session, KEYS[2] its resource set;
// ARGV[1] resource. It records the resource unless the session is gone.
var attachScript = goredis.NewScript(sessionLive + `
if not sessionLive(KEYS[1]) then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`)

// endScript: KEYS[1] session, KEYS[2] its resource set. It ends the session
// and returns the resources it touched.
var endScript = goredis.NewScript(`
redis.call('DEL', KEYS[1])
return redis.call('SMEMBERS', KEYS[2])
`)
