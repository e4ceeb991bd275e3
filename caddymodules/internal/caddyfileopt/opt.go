// Package caddyfileopt parses the typed single-argument subdirectives that the Spell Coven
// Caddyfile directives share (counts, sizes, durations), with errors that name the subdirective.
package caddyfileopt

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

// String reads exactly one argument.
func String(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: expected one value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one value, got more", name)
	}
	return nil
}

// Int reads one non-negative integer argument.
func Int(d *caddyfile.Dispenser, dst *int) error {
	var s string
	name := d.Val()
	if err := String(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return d.Errf("%s: %q is not a non-negative whole number", name, s)
	}
	*dst = n
	return nil
}

// Size reads one byte size argument such as 64KiB or 1MB.
func Size(d *caddyfile.Dispenser, dst *int64) error {
	var s string
	name := d.Val()
	if err := String(d, &s); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<40 {
		return d.Errf("%s: %q is not a byte size (e.g. 64KiB, 1MB)", name, s)
	}
	*dst = int64(n)
	return nil
}

// Duration reads one duration argument (Caddy's syntax: 1m30s, 2d).
func Duration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	name := d.Val()
	if err := String(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < 0 {
		return d.Errf("%s: %q is not a duration (e.g. 30s, 5m)", name, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Unmarshaler is a handler module that sets itself up from its directive's tokens.
type Unmarshaler[T any] interface {
	*T
	caddyhttp.MiddlewareHandler
	caddyfile.Unmarshaler
}

// RegisterHandler registers directive name for handler module T, placed in Caddy's directive order
// relative to a standard directive, so that a Caddyfile needs no `order` option.
// It parses as Caddy's RegisterHandlerDirective does (an optional matcher token, then the handler's
// own tokens); a handler that implements MatcherChecker is also shown the matcher token, so that it
// can explain an argument Caddy took for a matcher.
func RegisterHandler[T any, PT Unmarshaler[T]](name string, position httpcaddyfile.Positional, anchor string) {
	httpcaddyfile.RegisterDirective(name, func(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
		if !h.Next() {
			return nil, h.ArgErr()
		}
		var first string
		if h.NextArg() {
			first = h.Val()
			h.Prev()
		}
		matcherSet, err := h.ExtractMatcherSet()
		if err != nil {
			return nil, err
		}
		m := PT(new(T))
		if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
			return nil, err
		}
		if c, ok := any(m).(MatcherChecker); ok && isMatcherToken(first) {
			if err := c.CheckMatcher(first); err != nil {
				return nil, h.Errf("%v", err)
			}
		}
		return h.NewRoute(matcherSet, m), nil
	})
	httpcaddyfile.RegisterDirectiveOrder(name, position, anchor)
}

// MatcherChecker is a handler that wants to see the matcher token its directive was given: Caddy reads
// a first argument of "*", "/…" or "@…" as a matcher, which may be a value the admin meant for the
// handler (an origin of "*", a secret that starts with "/").
type MatcherChecker interface {
	CheckMatcher(token string) error
}

// isMatcherToken reports whether Caddy reads tok, a directive's first argument, as a matcher.
func isMatcherToken(tok string) bool {
	return tok == "*" || strings.HasPrefix(tok, "/") || strings.HasPrefix(tok, "@")
}

// Rate reads "<n>/s [<burst>]": a positive number of events per second and an optional whole burst
// of at least 1 (burst is left alone when absent).
func Rate(d *caddyfile.Dispenser, rate *float64, burst *int) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Errf("%s takes <n>/s and an optional burst, e.g. %s 10/s 20", name, name)
	}
	n, ok := strings.CutSuffix(args[0], "/s")
	r, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || r <= 0 {
		return d.Errf("%s %q: want a positive number per second, e.g. 10/s", name, args[0])
	}
	*rate = r
	if len(args) == 2 {
		b, err := strconv.Atoi(args[1])
		if err != nil || b < 1 {
			return d.Errf("%s burst %q: want a whole number, at least 1", name, args[1])
		}
		*burst = b
	}
	return nil
}

// ClaimValue reads a claim name and, optionally, the value it must hold (admin_claim <claim>
// [<value>]).
func ClaimValue(d *caddyfile.Dispenser, claim, value *string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Errf("%s: expected a claim name and optionally a value", name)
	}
	*claim = args[0]
	if len(args) == 2 {
		*value = args[1]
	}
	return nil
}
