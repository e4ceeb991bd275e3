package redisbroker

import "github.com/redis/go-redis/v9"

// The broker's atomic steps, as Lua scripts. Redis runs a script without interleaving any other
// command, which is what makes admission, appending and moving the head one step for every instance.
//
// Seqs travel as decimal strings and are compared by length, then lexically: Lua numbers are doubles,
// exact only up to 2^53, while a seq may be any uint64. Stream entry ids ("ms-n") are compared as two
// numbers, which are well within that range.

// luaDecimalLE and luaNewerID are shared by the scripts below.
const (
	luaDecimalLE = `
local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end
`
	luaNewerID = `
local function newer(a, b)
  local am, an = string.match(a, '^(%d+)-(%d+)$')
  local bm, bn = string.match(b, '^(%d+)-(%d+)$')
  am, an, bm, bn = tonumber(am), tonumber(an), tonumber(bm), tonumber(bn)
  return am > bm or (am == bm and an > bn)
end
`
)

// Record kinds passed to publishScript.
const (
	kindEvent    = "e"
	kindSnapshot = "s" // extra: the snapshot's data, {"rooms":[...]}, the new checkpoint's projection
	kindStatus   = "d" // extra: the Discord link state that the system.status event reports
)

// publishScript admits a batch against the head as hub.Admit does and appends its new events.
//
// KEYS: head, stream, checkpoint. ARGV: stream length, epoch, seq of the first record minus one, then
// four per record: seq, kind, extra, frame.
//
// It answers {1, applied, skipped, id of the last entry appended or ""} or, when the batch does not
// continue the head, {0} (nothing held) or {0, head epoch, head seq}.
var publishScript = redis.NewScript(luaDecimalLE + `
local maxlen, epoch, firstPrev = ARGV[1], ARGV[2], ARGV[3]
local n = (#ARGV - 3) / 4
local head = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'discord')
local hepoch, hseq, discord = head[1], head[2], head[3] or ''
local skipped = 0
if hepoch and hepoch == epoch and le(firstPrev, hseq) then
  while skipped < n and le(ARGV[4 + skipped * 4], hseq) do skipped = skipped + 1 end
elseif ARGV[5] ~= 's' then
  if hepoch then return {0, hepoch, hseq} end
  return {0}
end
local id = false
for i = skipped, n - 1 do
  local b = 4 + i * 4
  local kind = ARGV[b + 1]
  if kind == 'd' then discord = ARGV[b + 2] end
  id = redis.call('XADD', KEYS[2], 'MAXLEN', maxlen, '*', 'f', ARGV[b + 3])
  if kind == 's' then
    redis.call('DEL', KEYS[3])
    redis.call('HSET', KEYS[3], 'id', id, 'epoch', epoch, 'seq', ARGV[b], 'rooms', ARGV[b + 2], 'discord', discord)
  end
end
if id then
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', ARGV[4 + (n - 1) * 4], 'id', id, 'discord', discord)
end
return {1, n - skipped, skipped, id or ''}
`)

// checkpointScript stores a projection at a stream entry, unless the checkpoint held is as new or the
// entry is no longer in the stream (which means the stream was trimmed past it or seeded anew since).
//
// KEYS: checkpoint, stream. ARGV: entry id, epoch, seq, rooms, discord. It answers 1 when stored.
var checkpointScript = redis.NewScript(luaNewerID + `
local cur = redis.call('HGET', KEYS[1], 'id')
if cur and not newer(ARGV[1], cur) then return 0 end
if #redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'epoch', ARGV[2], 'seq', ARGV[3], 'rooms', ARGV[4], 'discord', ARGV[5])
return 1
`)

// seedScript replaces what Redis holds with an instance's state: the stream with its history, the
// checkpoint with its projection and the head with its position. It does so only if the head is still
// the one the instance saw: absent (Redis came back empty) or holding that entry id.
//
// KEYS: head, stream, checkpoint. ARGV: expected head id ("" for none), stream length, epoch, seq,
// discord, rooms, then the history's frames, oldest first. It answers the id of the last entry
// appended ("0-0" when the history is empty), or false when the head changed meanwhile.
var seedScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'id')
if ARGV[1] == '' then
  if cur then return false end
elseif cur ~= ARGV[1] then
  return false
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local id = '0-0'
for i = 7, #ARGV do
  id = redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '*', 'f', ARGV[i])
end
redis.call('HSET', KEYS[3], 'id', id, 'epoch', ARGV[3], 'seq', ARGV[4], 'rooms', ARGV[6], 'discord', ARGV[5])
redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'seq', ARGV[4], 'id', id, 'discord', ARGV[5])
return id
`)

// resetScript forgets everything when what Redis holds cannot be made into a state and no instance has
// one to seed it with: the worker's next batch then gets snapshot_required and starts over.
//
// KEYS: head, stream, checkpoint. ARGV: expected head id. It answers 1 when reset.
var resetScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`)
