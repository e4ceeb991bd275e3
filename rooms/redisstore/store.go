// Package redisstore keeps the rooms API's shared state in Redis, so that edge instances behind one
// load balancer agree on it: the answers to requests with an Idempotency-Key, and each user's
// creations per window. It implements rooms.SharedStore; the `coven` app uses it when its broker is
// Redis, on the broker's connection and key prefix.
//
// Keys (under the prefix): rooms:idem:<id> is a hash {fp, answer} with the claim's lease or the
// answer's TTL as expiry; rooms:creations:<user> is a sorted set of creation tokens scored by time
// in milliseconds, expiring with its window. Each operation is one Lua script, so it is atomic.
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
