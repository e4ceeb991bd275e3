// Package redisstore keeps the rooms API's shared state in Redis, so that edge instances behind one
// load balancer agree on it: the answers to requests with an Idempotency-Key, each user's creations
// per window, and the rooms each user owns that the projection does not show yet. It implements
// rooms.SharedStore; the `coven` app uses it when its broker is Redis, on the broker's client and key
// prefix. That prefix is the deployment's hash tag ("{coven:}"), so that in Redis Cluster a script's
// two keys of one user are in one slot.
//
// Keys (under the prefix): rooms:idem:<id> is a hash {fp, answer} with the claim's lease or the
// answer's TTL as expiry; rooms:creations:<user> is a sorted set of creation tokens scored by time
// in milliseconds, expiring with its window; rooms:inflight:<user> and rooms:created:<user> are
// sorted sets of creations under way and of rooms just created, scored by when they stop counting.
// Each operation is one Lua script (or one command), so it is atomic.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spellcoven/gateway/rooms"
)

// Store is a rooms.SharedStore on Redis. It is safe for concurrent use.
type Store struct {
	client redis.Cmdable
	prefix string
}

// New returns a store on client whose keys start with prefix (e.g. the broker's "coven:").
func New(client redis.Cmdable, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

var _ rooms.SharedStore = (*Store)(nil)

func (s *Store) idemKey(id string) string        { return s.prefix + "rooms:idem:" + id }
func (s *Store) creationsKey(user string) string { return s.prefix + "rooms:creations:" + user }

// claimScript: claim KEYS[1] for fingerprint ARGV[1] with lease ARGV[2] ms, or return what holds it.
var claimScript = redis.NewScript(`
local held = redis.call('HMGET', KEYS[1], 'fp', 'answer')
if held[1] then return held end
redis.call('HSET', KEYS[1], 'fp', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// finishScript: if KEYS[1] is still held by fingerprint ARGV[1] and unanswered, store answer ARGV[2]
// for ARGV[3] ms, or delete the key when ARGV[2] is empty.
var finishScript = redis.NewScript(`
local held = redis.call('HMGET', KEYS[1], 'fp', 'answer')
if held[1] ~= ARGV[1] or held[2] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'answer', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
`)

// ClaimIdempotencyKey implements rooms.SharedStore.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, id string, fp []byte, lease time.Duration) (rooms.IdempotencyRecord, bool, error) {
	res, err := claimScript.Run(ctx, s.client, []string{s.idemKey(id)}, string(fp), lease.Milliseconds()).Result()
	if err != nil {
		return rooms.IdempotencyRecord{}, false, fmt.Errorf("redisstore: claim: %w", err)
	}
	if n, ok := res.(int64); ok && n == 1 {
		return rooms.IdempotencyRecord{}, true, nil
	}
	rec, ok, err := record(res)
	if err != nil || !ok {
		return rooms.IdempotencyRecord{}, false, fmt.Errorf("redisstore: claim: unexpected reply %v", res)
	}
	return rec, false, nil
}

// record decodes an HMGET of {fp, answer}; ok is false when fp is absent.
func record(res any) (rooms.IdempotencyRecord, bool, error) {
	vals, ok := res.([]any)
	if !ok || len(vals) != 2 {
		return rooms.IdempotencyRecord{}, false, errors.New("not a pair")
	}
	fp, ok := vals[0].(string)
	if !ok {
		return rooms.IdempotencyRecord{}, false, nil
	}
	rec := rooms.IdempotencyRecord{Fingerprint: []byte(fp)}
	if a, ok := vals[1].(string); ok {
		rec.Answer = []byte(a)
	}
	return rec, true, nil
}

// FinishIdempotencyKey implements rooms.SharedStore.
func (s *Store) FinishIdempotencyKey(ctx context.Context, id string, fp, answer []byte, ttl time.Duration) error {
	if answer != nil && len(answer) == 0 {
		return errors.New("redisstore: an empty answer")
	}
	if err := finishScript.Run(ctx, s.client, []string{s.idemKey(id)}, string(fp), string(answer), ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redisstore: finish: %w", err)
	}
	return nil
}

// IdempotencyKey implements rooms.SharedStore.
func (s *Store) IdempotencyKey(ctx context.Context, id string) (rooms.IdempotencyRecord, bool, error) {
	res, err := s.client.HMGet(ctx, s.idemKey(id), "fp", "answer").Result()
	if err != nil {
		return rooms.IdempotencyRecord{}, false, fmt.Errorf("redisstore: read: %w", err)
	}
	rec, ok, err := record(res)
	if err != nil {
		return rooms.IdempotencyRecord{}, false, fmt.Errorf("redisstore: read: %w", err)
	}
	return rec, ok, nil
}

// reserveScript: drop KEYS[1]'s members older than ARGV[1]-ARGV[2] ms; if fewer than ARGV[3] remain,
// add ARGV[4] at ARGV[1] and return -1; else return the oldest remaining score.
var reserveScript = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return oldest[2]
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
`)

// ReserveCreation implements rooms.SharedStore.
func (s *Store) ReserveCreation(ctx context.Context, user string, now time.Time, limit int, window time.Duration) (string, time.Duration, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	nowMS := now.UnixMilli()
	token := strconv.FormatInt(nowMS, 10) + "-" + hex.EncodeToString(b)
	res, err := reserveScript.Run(ctx, s.client, []string{s.creationsKey(user)}, nowMS, window.Milliseconds(), limit, token).Result()
	if err != nil {
		return "", 0, fmt.Errorf("redisstore: reserve: %w", err)
	}
	switch v := res.(type) {
	case int64:
		if v == -1 {
			return token, 0, nil
		}
	case string:
		oldest, err := strconv.ParseFloat(v, 64)
		if err != nil {
			break
		}
		wait := time.Duration(int64(oldest)+window.Milliseconds()-nowMS) * time.Millisecond
		return "", max(wait, time.Millisecond), nil
	}
	return "", 0, fmt.Errorf("redisstore: reserve: unexpected reply %v", res)
}

// RefundCreation implements rooms.SharedStore.
func (s *Store) RefundCreation(ctx context.Context, user, token string) error {
	if err := s.client.ZRem(ctx, s.creationsKey(user), token).Err(); err != nil {
		return fmt.Errorf("redisstore: refund: %w", err)
	}
	return nil
}

func (s *Store) inFlightKey(user string) string { return s.prefix + "rooms:inflight:" + user }
func (s *Store) createdKey(user string) string  { return s.prefix + "rooms:created:" + user }

// reserveOwnedScript: KEYS[1] in-flight creations (token -> expiry ms), KEYS[2] created rooms
// (room id -> expiry ms). ARGV: now, limit, lease ms, grace ms, token, then the owned room ids.
// It drops what expired, counts owned + in flight + created rooms not owned, and admits the
// creation when below the limit. It returns {admitted (0/1), count}.
var reserveOwnedScript = redis.NewScript(`
local now, limit, lease, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local owned = {}
for i = 6, #ARGV do owned[ARGV[i]] = true end
local count = #ARGV - 5 + redis.call('ZCARD', KEYS[1])
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if not owned[id] then count = count + 1 end
end
if count >= limit then return {0, count} end
redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
redis.call('PEXPIRE', KEYS[1], lease)
return {1, count}
`)

// finishOwnedScript: remove token ARGV[1] from KEYS[1]; when ARGV[2] names a room, count it in
// KEYS[2] until ARGV[3] + ARGV[4] ms.
var finishOwnedScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  local grace = tonumber(ARGV[4])
  redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + grace, ARGV[2])
  if redis.call('PTTL', KEYS[2]) < grace then redis.call('PEXPIRE', KEYS[2], grace) end
end
return 1
`)

// ReserveOwned implements rooms.SharedStore.
func (s *Store) ReserveOwned(ctx context.Context, user string, owned []string, limit int, now time.Time, lease, grace time.Duration) (string, int, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	args := append([]any{now.UnixMilli(), limit, lease.Milliseconds(), grace.Milliseconds(), token}, anys(owned)...)
	res, err := reserveOwnedScript.Run(ctx, s.client, []string{s.inFlightKey(user), s.createdKey(user)}, args...).Int64Slice()
	if err != nil {
		return "", 0, fmt.Errorf("redisstore: reserve owned: %w", err)
	}
	if len(res) != 2 {
		return "", 0, fmt.Errorf("redisstore: reserve owned: unexpected reply %v", res)
	}
	if res[0] != 1 {
		return "", int(res[1]), nil
	}
	return token, int(res[1]), nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// FinishOwned implements rooms.SharedStore.
func (s *Store) FinishOwned(ctx context.Context, user, token, roomID string, now time.Time, grace time.Duration) error {
	err := finishOwnedScript.Run(ctx, s.client, []string{s.inFlightKey(user), s.createdKey(user)}, token, roomID, now.UnixMilli(), grace.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: finish owned: %w", err)
	}
	return nil
}

// ForgetOwned implements rooms.SharedStore.
func (s *Store) ForgetOwned(ctx context.Context, user, roomID string) error {
	if err := s.client.ZRem(ctx, s.createdKey(user), roomID).Err(); err != nil {
		return fmt.Errorf("redisstore: forget owned: %w", err)
	}
	return nil
}
