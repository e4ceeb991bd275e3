package discordrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind classifies a failed call by what the caller should do about it.
type Kind int

// The kinds of failure. Their String forms are the `result` labels of the call metrics.
const (
	// KindNotFound: Discord does not know the resource (10003 Unknown Channel, 10004 Unknown Guild...).
	KindNotFound Kind = iota + 1
	// KindInvalid: Discord refused the request's content (400, 50035 Invalid Form Body, 30013...).
	KindInvalid
	// KindForbidden: the bot lacks a permission (403 with a JSON body, 50001 or 50013).
	KindForbidden
	// KindUnauthorized: Discord rejected the bot token (401). Calls are refused for a while after it.
	KindUnauthorized
	// KindRateLimited: Discord's limits (or this client's reading of them) do not allow the call
	// before the context's deadline.
	KindRateLimited
	// KindServerError: Discord answered 5xx.
	KindServerError
	// KindUnavailable: Discord could not be reached, or the client refuses to call it to stay clear of
	// the invalid-request ban.
	KindUnavailable
	// KindTimeout: the context's deadline passed while waiting for Discord's answer.
	KindTimeout
)

var kindNames = map[Kind]string{
	KindNotFound:     "not_found",
	KindInvalid:      "invalid",
	KindForbidden:    "forbidden",
	KindUnauthorized: "unauthorized",
	KindRateLimited:  "rate_limited",
	KindServerError:  "server_error",
	KindUnavailable:  "unavailable",
	KindTimeout:      "timeout",
}

// String names the kind in snake_case.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Discord's JSON error codes that callers act on.
const (
	CodeUnknownChannel  = 10003
	CodeUnknownGuild    = 10004
	CodeMaxChannels     = 30013
	CodeInvalidFormBody = 50035
)

// Error is a call that did not succeed. It carries Discord's status, code and message (which never
// hold request data such as the token) and, for failures worth retrying, when to retry.
type Error struct {
	Kind Kind
	// Route is the route called, e.g. "POST /guilds/{guild.id}/channels".
	Route string
	// Status is Discord's HTTP status, or 0 when no answer came.
	Status int
	// Code and Message are Discord's JSON error, when it sent one.
	Code    int
	Message string
	// Fields are the paths of the fields a 50035 Invalid Form Body answer complains about, e.g.
	// "permission_overwrites.0.id", sorted.
	Fields []string
	// RetryAfter is when a retry may succeed, for KindRateLimited, KindUnavailable, KindServerError
	// and KindTimeout; 0 when unknown.
	RetryAfter time.Duration
	// Err is the underlying transport error, if any.
	Err error
}

// Error describes the failure for logs. It holds no request data.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "discord %s: %s", e.Route, e.Kind)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != 0 {
			fmt.Fprintf(&b, ", code %d", e.Code)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Fields) > 0 {
		b.WriteString(" [" + strings.Join(e.Fields, ", ") + "]")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %v", e.RetryAfter.Round(time.Millisecond))
	}
	return b.String()
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a failed call, or 0 for nil and for errors not from this package.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// apiErrorBody is Discord's error answer.
type apiErrorBody struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Errors  json.RawMessage `json:"errors"`
}

// decodeAPIError reads a JSON error body; ok is false when the body is not one (an HTML page from
// Cloudflare, an empty answer).
func decodeAPIError(body []byte) (apiErrorBody, bool) {
	var b apiErrorBody
	if err := json.Unmarshal(body, &b); err != nil || (b.Message == "" && b.Code == 0) {
		return apiErrorBody{}, false
	}
	return b, true
}

// fieldPaths lists the paths of the leaves of a 50035 "errors" tree: {"name":{"_errors":[...]}} gives
// "name".
func fieldPaths(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var tree map[string]json.RawMessage
	if json.Unmarshal(raw, &tree) != nil {
		return nil
	}
	var out []string
	var walk func(prefix string, node map[string]json.RawMessage, depth int)
	walk = func(prefix string, node map[string]json.RawMessage, depth int) {
		if depth > 8 {
			return
		}
		for k, v := range node {
			if k == "_errors" {
				out = append(out, prefix)
				continue
			}
			var child map[string]json.RawMessage
			if json.Unmarshal(v, &child) == nil {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, child, depth+1)
			}
		}
	}
	walk("", tree, 0)
	slices.Sort(out)
	return out
}
