package discordrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/internal/ctxsleep"
)

// Client calls Discord's REST API. It is safe for concurrent use; share one per bot token, since
// Discord's limits are per bot and per client address.
type Client struct {
	cfg    Config
	auth   string
	logger *zap.Logger

	mu      sync.Mutex
	limits  *limiter
	invalid *invalidWindow
	// refuseUntil and refusal: calls are refused until then, because the token was rejected or
	// Cloudflare banned this address.
	refuseUntil   time.Time
	refusal       string
	tokenRejected bool
	lastError     string
	lastErrorAt   time.Time
	calls         map[CallKey]uint64
}

// New returns a client for cfg. It does no I/O.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Client{
		cfg:     cfg,
		auth:    "Bot " + cfg.Token,
		logger:  cfg.Logger,
		limits:  newLimiter(cfg.GlobalLimit, cfg.MaxBuckets),
		invalid: newInvalidWindow(cfg.InvalidRequestWindow),
		calls:   make(map[CallKey]uint64),
	}, nil
}

// request is one logical call, which may take several attempts.
type request struct {
	method string
	// route names the route for buckets, metrics and errors: "DELETE /channels/{channel.id}".
	route string
	// path is the concrete path after the base URL: "/channels/123".
	path string
	// major is the route's major parameter (guild or channel id), which splits its bucket.
	major       string
	body        []byte
	auditReason string
}

// idempotent reports whether sending the request twice is harmless, so that it may be retried after
// an answer that does not say whether Discord acted on it (a 5xx, a connection broken mid-way).
func (r *request) idempotent() bool {
	return r.method == http.MethodGet || r.method == http.MethodDelete || r.method == http.MethodPut
}

// do performs req within ctx's deadline and decodes a 2xx answer into out (unless nil).
func (c *Client) do(ctx context.Context, req request, out any) error {
	// unreachable is the last attempt's failure to reach Discord at all, while retrying it.
	var unreachable *Error
	for attempt := 0; ; attempt++ {
		key, refused := c.admit(ctx, req)
		if refused != nil {
			c.count(req.route, resultRefused)
			return c.failed(refused)
		}
		status, header, body, err := c.send(ctx, req)
		now := time.Now()
		c.mu.Lock()
		if err == nil {
			c.limits.update(req.route, req.major, key, status, header, now)
		} else {
			c.limits.release(key)
		}
		c.mu.Unlock()

		var retry time.Duration // > 0: worth retrying after this long
		var fail *Error
		switch {
		case err != nil:
			fail = c.transportError(ctx, req, err)
			if fail.Kind == KindTimeout && unreachable != nil {
				// The deadline came during the retry of an unreachable Discord (a loaded machine
				// may run the retry late): unreachable is what was seen, not slow.
				unreachable.RetryAfter = c.backoff(attempt)
				return c.failed(unreachable)
			}
			if fail.Kind == KindUnavailable && (req.idempotent() || isDialError(err)) {
				retry = c.backoff(attempt)
				unreachable = fail
			}
		case status >= 200 && status < 300:
			c.succeeded(req.route)
			if out == nil || status == http.StatusNoContent {
				return nil
			}
			if err := json.Unmarshal(body, out); err != nil {
				c.count(req.route, "bad_answer")
				return c.failed(&Error{Kind: KindServerError, Route: req.route, Status: status, Message: "undecodable answer", Err: err})
			}
			return nil
		case status == http.StatusTooManyRequests:
			fail = c.rateLimited(req, key, header, body, now)
			retry = max(fail.RetryAfter, c.backoff(attempt))
		case status >= 500:
			c.count(req.route, KindServerError.String())
			fail = &Error{Kind: KindServerError, Route: req.route, Status: status}
			if b, ok := decodeAPIError(body); ok {
				fail.Code, fail.Message = b.Code, b.Message
			}
			if req.idempotent() {
				retry = c.backoff(attempt)
			}
		default:
			return c.failed(c.clientError(req, status, body, now))
		}
		if retry <= 0 {
			return c.failed(fail)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(retry).After(deadline) {
			fail.RetryAfter = retry
			return c.failed(fail)
		}
		if err := ctxsleep.Sleep(ctx, retry); err != nil {
			fail.RetryAfter = retry
			return c.failed(fail)
		}
	}
}

// admit waits, within ctx's deadline, until the limits let req go, and counts it. It fails at once
// when the wait would pass the deadline, or when calls are refused.
func (c *Client) admit(ctx context.Context, req request) (string, *Error) {
	for {
		now := time.Now()
		c.mu.Lock()
		if now.Before(c.refuseUntil) {
			wait, why, kind := c.refuseUntil.Sub(now), c.refusal, KindUnavailable
			if c.tokenRejected {
				kind = KindUnauthorized
			}
			c.mu.Unlock()
			return "", &Error{Kind: kind, Route: req.route, Message: why, RetryAfter: wait}
		}
		if wait := c.invalid.belowAfter(c.cfg.InvalidRequestLimit, now); wait > 0 {
			c.mu.Unlock()
			return "", &Error{Kind: KindUnavailable, Route: req.route, RetryAfter: wait,
				Message: fmt.Sprintf("refusing to call Discord: %d invalid answers (401/403/429) within %v",
					c.cfg.InvalidRequestLimit, c.cfg.InvalidRequestWindow)}
		}
		res := c.limits.reserve(req.route, req.major, now)
		c.mu.Unlock()
		switch {
		case res.waitFor != nil:
			select {
			case <-res.waitFor:
			case <-ctx.Done():
				return "", c.contextError(ctx, req)
			}
		case res.wait > 0:
			if deadline, ok := ctx.Deadline(); ok && now.Add(res.wait).After(deadline) {
				return "", &Error{Kind: KindRateLimited, Route: req.route, RetryAfter: res.wait,
					Message: "Discord's rate limit does not allow the call before the deadline"}
			}
			if err := ctxsleep.Sleep(ctx, res.wait); err != nil {
				return "", c.contextError(ctx, req)
			}
		default:
			return res.key, nil
		}
	}
}

// send makes one HTTP request and reads its answer.
func (c *Client) send(ctx context.Context, req request) (int, http.Header, []byte, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, c.cfg.BaseURL+req.path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	hreq.Header.Set("Authorization", c.auth)
	hreq.Header.Set("User-Agent", c.cfg.UserAgent)
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.auditReason != "" {
		hreq.Header.Set("X-Audit-Log-Reason", url.PathEscape(req.auditReason))
	}
	resp, err := c.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// rateLimited handles a 429: it pauses the bucket or every route, and counts it as invalid unless
// Discord says the limit was a shared resource's (those do not count towards the ban).
func (c *Client) rateLimited(req request, key string, h http.Header, body []byte, now time.Time) *Error {
	var b struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
		Message    string  `json:"message"`
	}
	_ = json.Unmarshal(body, &b)
	wait := time.Duration(b.RetryAfter * float64(time.Second))
	if wait <= 0 || math.IsNaN(b.RetryAfter) {
		if s, ok := parseSeconds(h.Get("Retry-After")); ok {
			wait = s
		} else {
			wait = c.cfg.BackoffBase
		}
	}
	global := b.Global || h.Get("X-RateLimit-Global") == "true"
	c.mu.Lock()
	if global {
		c.limits.pauseAll(now.Add(wait))
	} else {
		c.limits.block(key, now.Add(wait))
	}
	if h.Get("X-RateLimit-Scope") != "shared" {
		c.invalid.add(now)
	}
	c.mu.Unlock()
	c.count(req.route, KindRateLimited.String())
	msg := "rate limited by Discord"
	if global {
		msg = "globally rate limited by Discord"
	}
	return &Error{Kind: KindRateLimited, Route: req.route, Status: http.StatusTooManyRequests, Message: msg, RetryAfter: wait}
}

// clientError turns a 4xx other than 429 into an Error, counting 401 and 403 as invalid answers.
func (c *Client) clientError(req request, status int, body []byte, now time.Time) *Error {
	e := &Error{Kind: KindInvalid, Route: req.route, Status: status}
	b, isJSON := decodeAPIError(body)
	if isJSON {
		e.Code, e.Message = b.Code, b.Message
		if b.Code == CodeInvalidFormBody {
			e.Fields = fieldPaths(b.Errors)
		}
	}
	switch status {
	case http.StatusUnauthorized:
		e.Kind = KindUnauthorized
		c.mu.Lock()
		c.invalid.add(now)
		first := !c.tokenRejected
		c.tokenRejected = true
		c.refuseUntil = now.Add(c.cfg.UnauthorizedPause)
		c.refusal = "Discord rejected the bot token (401 Unauthorized)"
		c.mu.Unlock()
		if first {
			c.logger.Error("Discord rejected the bot token (401 Unauthorized): rooms cannot be created or deleted until the token is fixed",
				zap.Duration("retry_in", c.cfg.UnauthorizedPause))
		}
	case http.StatusForbidden:
		e.Kind = KindForbidden
		c.mu.Lock()
		c.invalid.add(now)
		if !isJSON {
			// Cloudflare's ban page: nothing will get through for a while.
			e.Kind, e.Message = KindUnavailable, "Discord (Cloudflare) refused this address: banned for too many invalid requests"
			c.refuseUntil = now.Add(c.cfg.InvalidRequestWindow)
			c.refusal = e.Message
			e.RetryAfter = c.cfg.InvalidRequestWindow
		}
		c.mu.Unlock()
		if e.Kind == KindUnavailable {
			c.logger.Error(e.Message, zap.Duration("pause", c.cfg.InvalidRequestWindow))
		} else {
			c.logger.Warn("Discord refused a call for lack of permission", zap.String("route", req.route),
				zap.Int("code", e.Code), zap.String("message", e.Message))
		}
	case http.StatusNotFound:
		e.Kind = KindNotFound
	}
	c.count(req.route, e.Kind.String())
	return e
}

// transportError classifies an error of the HTTP exchange and counts it.
func (c *Client) transportError(ctx context.Context, req request, err error) *Error {
	// A connection refused is what was seen, even if the deadline passed meanwhile (a loaded machine
	// may run this late): Discord is unreachable, not slow.
	var ne net.Error
	refused := isDialError(err) && !(errors.As(err, &ne) && ne.Timeout()) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
	if ctx.Err() != nil && !refused {
		e := c.contextError(ctx, req)
		c.count(req.route, e.Kind.String())
		return e
	}
	c.count(req.route, KindUnavailable.String())
	return &Error{Kind: KindUnavailable, Route: req.route, Message: "Discord could not be reached", Err: err}
}

// contextError is the Error of a call whose context ended.
func (c *Client) contextError(ctx context.Context, req request) *Error {
	e := &Error{Kind: KindTimeout, Route: req.route, Message: "no answer from Discord before the deadline", Err: ctx.Err()}
	if errors.Is(ctx.Err(), context.Canceled) {
		e.Message = "the call was cancelled"
	}
	return e
}

// isDialError reports an error that happened before the request was written: Discord never saw it,
// so even a POST may be sent again.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff is the wait before retry number attempt+1: BackoffBase doubling up to BackoffMax, drawn
// from the upper half of that (jitter), so that edges failing together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	return backoff.Policy{Initial: c.cfg.BackoffBase, Max: c.cfg.BackoffMax}.Delay(attempt)
}

// succeeded records a 2xx answer: a token that works is not rejected.
func (c *Client) succeeded(route string) {
	c.mu.Lock()
	if c.tokenRejected {
		c.tokenRejected = false
		c.refuseUntil, c.refusal = time.Time{}, ""
		c.logger.Info("Discord accepts the bot token again")
	}
	c.mu.Unlock()
	c.count(route, resultOK)
}

// failed records err as the last error and returns it.
func (c *Client) failed(err *Error) error {
	c.mu.Lock()
	c.lastError, c.lastErrorAt = err.Error(), time.Now()
	c.mu.Unlock()
	return err
}
