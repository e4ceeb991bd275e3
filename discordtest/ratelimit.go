package discordtest

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// restLimiter enforces Discord's REST limits: a global limit per bot, fixed-window buckets per
// route and major parameter, and Cloudflare's ban of clients that collect too many 401, 403 and
// 429 answers.
type restLimiter struct {
	cfg RESTConfig

	mu      sync.Mutex
	buckets map[string]*bucket
	global  map[string]*bucket
	// invalid holds, per client address, when each recent 401/403/429 answer was given.
	invalid     map[string][]time.Time
	bannedUntil map[string]time.Time
	// renames holds, per channel, when its recent name or topic changes were made.
	renames map[string][]time.Time
}

// bucket is a fixed window: remaining requests until resetAt.
type bucket struct {
	remaining int
	resetAt   time.Time
}

// rateDecision is the outcome of one request against the limits, and the headers that tell it.
type rateDecision struct {
	limit      int
	remaining  int
	resetAt    time.Time
	bucket     string
	limited    bool
	global     bool
	scope      string
	retryAfter time.Duration
}

func newRESTLimiter(cfg RESTConfig) *restLimiter {
	return &restLimiter{
		cfg:         cfg,
		buckets:     make(map[string]*bucket),
		global:      make(map[string]*bucket),
		invalid:     make(map[string][]time.Time),
		bannedUntil: make(map[string]time.Time),
		renames:     make(map[string][]time.Time),
	}
}

// bucketHash is the opaque X-RateLimit-Bucket value of a route, stable across runs like Discord's.
func bucketHash(routeName string) string {
	sum := sha256.Sum256([]byte(routeName))
	return hex.EncodeToString(sum[:16])
}

func (l *restLimiter) routeLimit(name string) RouteLimit {
	if rl, ok := l.cfg.Routes[name]; ok {
		return rl
	}
	return l.cfg.RouteLimit
}

// take counts one request by identity on rt and decides whether it may go through. The global
// limit applies to authenticated requests only, as Discord's applies per bot.
func (l *restLimiter) take(identity string, rt *restRoute, major string, counted bool, now time.Time) rateDecision {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)

	if counted {
		g := l.global[identity]
		if g == nil || !now.Before(g.resetAt) {
			g = &bucket{remaining: l.cfg.GlobalLimit, resetAt: now.Add(l.cfg.GlobalWindow)}
			l.global[identity] = g
		}
		if g.remaining <= 0 {
			return rateDecision{limited: true, global: true, scope: "global", retryAfter: g.resetAt.Sub(now)}
		}
		g.remaining--
	}

	name := rt.name()
	rl := l.routeLimit(name)
	hash := bucketHash(name)
	key := identity + "|" + hash + "|" + major
	b := l.buckets[key]
	if b == nil || !now.Before(b.resetAt) {
		b = &bucket{remaining: rl.Requests, resetAt: now.Add(rl.Window)}
		l.buckets[key] = b
	}
	d := rateDecision{limit: rl.Requests, resetAt: b.resetAt, bucket: hash, scope: "user"}
	if b.remaining <= 0 {
		d.limited = true
		d.retryAfter = b.resetAt.Sub(now)
		return d
	}
	b.remaining--
	d.remaining = b.remaining
	return d
}

// sweep forgets expired buckets once there are many, so long runs do not grow without bound.
func (l *restLimiter) sweep(now time.Time) {
	if len(l.buckets) < 4096 {
		return
	}
	for k, b := range l.buckets {
		if !now.Before(b.resetAt) {
			delete(l.buckets, k)
		}
	}
	for k, b := range l.global {
		if !now.Before(b.resetAt) {
			delete(l.global, k)
		}
	}
	for k, times := range l.renames {
		if len(pruneBefore(times, now.Add(-l.cfg.ChannelRenameLimit.Window))) == 0 {
			delete(l.renames, k)
		}
	}
}

// peek is the state of the bucket a request on rt would take, without taking it: what a 429
// Discord gives for a reason other than the bot's own use (scope "shared") reports.
func (l *restLimiter) peek(identity string, rt *restRoute, major string, now time.Time) rateDecision {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := rt.name()
	rl := l.routeLimit(name)
	hash := bucketHash(name)
	d := rateDecision{limit: rl.Requests, remaining: rl.Requests, resetAt: now.Add(rl.Window), bucket: hash}
	if b := l.buckets[identity+"|"+hash+"|"+major]; b != nil && now.Before(b.resetAt) {
		d.remaining, d.resetAt = b.remaining, b.resetAt
	}
	return d
}

// renameWait is how long a channel's name and topic stay locked by Discord's limit on renames
// (ChannelRenameLimit changes per window, whoever asks); 0 means a change may go through.
func (l *restLimiter) renameWait(channelID string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	rl := l.cfg.ChannelRenameLimit
	times := pruneBefore(l.renames[channelID], now.Add(-rl.Window))
	l.renames[channelID] = times
	if len(times) < rl.Requests {
		return 0
	}
	return times[len(times)-rl.Requests].Add(rl.Window).Sub(now)
}

// renamed records a change of a channel's name or topic.
func (l *restLimiter) renamed(channelID string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.renames[channelID] = append(l.renames[channelID], now)
}

// countInvalid records a 401, 403 or 429 answer to client and bans it past the limit.
func (l *restLimiter) countInvalid(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := pruneBefore(l.invalid[client], now.Add(-l.cfg.InvalidRequestWindow))
	times = append(times, now)
	l.invalid[client] = times
	if l.cfg.InvalidRequestLimit > 0 && len(times) >= l.cfg.InvalidRequestLimit {
		l.bannedUntil[client] = now.Add(l.cfg.BanDuration)
	}
}

// invalidCount is how many 401/403/429 answers all clients got within the window.
func (l *restLimiter) invalidCount(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for client, times := range l.invalid {
		times = pruneBefore(times, now.Add(-l.cfg.InvalidRequestWindow))
		l.invalid[client] = times
		n += len(times)
	}
	return n
}

func (l *restLimiter) banned(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.bannedUntil[client]
	if ok && !now.Before(until) {
		delete(l.bannedUntil, client)
		return false
	}
	return ok
}

func pruneBefore(times []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(times) && times[i].Before(cutoff) {
		i++
	}
	return times[i:]
}

// secondsString formats a duration in seconds with millisecond precision, as Discord's headers do.
func secondsString(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// writeHeaders sets Discord's rate-limit headers for the decision.
func (d rateDecision) writeHeaders(h http.Header) {
	now := time.Now()
	if !d.global {
		resetAfter := max(d.resetAt.Sub(now), 0)
		h.Set("X-RateLimit-Limit", strconv.Itoa(d.limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(d.resetAt.UnixMilli())/1000, 'f', 3, 64))
		h.Set("X-RateLimit-Reset-After", secondsString(resetAfter))
		h.Set("X-RateLimit-Bucket", d.bucket)
	}
	if d.limited {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.retryAfter.Seconds()))))
		h.Set("X-RateLimit-Scope", d.scope)
		if d.global {
			h.Set("X-RateLimit-Global", "true")
		}
	}
}

// writeSharedLimit sets the headers of a 429 with scope "shared": a limit on the resource rather
// than on the bot's use of the route. The route's bucket headers stay as they were.
func writeSharedLimit(h http.Header, retryAfter time.Duration) {
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	h.Set("X-RateLimit-Scope", "shared")
}

// body is the JSON body of a 429 answer.
func (d rateDecision) body() map[string]any {
	return map[string]any{
		"message":     "You are being rate limited.",
		"retry_after": math.Round(d.retryAfter.Seconds()*1000) / 1000,
		"global":      d.global,
	}
}
