package discordrest

import (
	"cmp"
	"slices"
	"time"
)

// Results of calls that are not failures of a Kind, as counted in Stats.
const (
	resultOK = "ok"
	// resultRefused: the call was not sent (refused, or its wait would pass the deadline).
	resultRefused = "not_sent"
)

// CallKey is a route and the result of one attempt to call it: "ok", "not_sent" (refused by this
// client or not possible before the deadline), "bad_answer", or a Kind's String.
type CallKey struct {
	Route, Result string
}

// CallCount is how many attempts had a route and result.
type CallCount struct {
	CallKey
	Count uint64
}

func (c *Client) count(route, result string) {
	c.mu.Lock()
	c.calls[CallKey{route, result}]++
	c.mu.Unlock()
}

// Calls returns the count of attempts per route and result since the client was made, sorted.
func (c *Client) Calls() []CallCount {
	c.mu.Lock()
	out := make([]CallCount, 0, len(c.calls))
	for k, n := range c.calls {
		out = append(out, CallCount{k, n})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b CallCount) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(a.Result, b.Result))
	})
	return out
}

// Status is what the client knows about its link to Discord, for health reports.
type Status struct {
	// TokenRejected is true after Discord answered 401, until a call succeeds again.
	TokenRejected bool `json:"token_rejected"`
	// InvalidRequests is the count of 401, 403 and 429 answers within the window, and
	// InvalidRequestLimit the count at which the client stops calling Discord.
	InvalidRequests     int `json:"invalid_requests"`
	InvalidRequestLimit int `json:"invalid_request_limit"`
	// Refusing is true while calls are refused (rejected token, ban, or too many invalid answers);
	// RefusingUntil says until when, and Refusal why.
	Refusing      bool       `json:"refusing"`
	RefusingUntil *time.Time `json:"refusing_until,omitempty"`
	Refusal       string     `json:"refusal,omitempty"`
	// LastError describes the last failed call, and LastErrorAt when it failed.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// Status returns the client's state at now.
func (c *Client) Status(now time.Time) Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		TokenRejected:       c.tokenRejected,
		InvalidRequests:     c.invalid.count(now),
		InvalidRequestLimit: c.cfg.InvalidRequestLimit,
		LastError:           c.lastError,
	}
	until := c.refuseUntil
	if wait := c.invalid.belowAfter(c.cfg.InvalidRequestLimit, now); wait > 0 && now.Add(wait).After(until) {
		until = now.Add(wait)
		s.Refusal = "too many invalid answers (401/403/429) from Discord recently"
	} else if now.Before(until) {
		s.Refusal = c.refusal
	}
	if now.Before(until) {
		s.Refusing, s.RefusingUntil = true, &until
	}
	if !c.lastErrorAt.IsZero() {
		t := c.lastErrorAt
		s.LastErrorAt = &t
	}
	return s
}
