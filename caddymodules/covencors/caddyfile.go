package covencors

import (
	"errors"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	// Preflights carry no credentials, so CORS runs before any authentication.
	caddyfileopt.RegisterHandler[Handler]("coven_cors", httpcaddyfile.Before, "basic_auth")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_cors [<matcher>] [<origin...>] {   // a first "*", "/…" or "@…" is a matcher
//		origins           <origin...>
//		methods           <method...>   # default GET POST DELETE
//		headers           <header...>   # default Authorization Content-Type Idempotency-Key
//		expose_headers    <header...>
//		allow_credentials
//		max_age           <duration>    # default 10m
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	h.Origins = append(h.Origins, d.RemainingArgs()...)
	for d.NextBlock(0) {
		switch d.Val() {
		case "origins":
			h.Origins = append(h.Origins, d.RemainingArgs()...)
		case "methods":
			h.Methods = append(h.Methods, d.RemainingArgs()...)
		case "headers":
			h.Headers = append(h.Headers, d.RemainingArgs()...)
		case "expose_headers":
			h.ExposeHeaders = append(h.ExposeHeaders, d.RemainingArgs()...)
		case "allow_credentials":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowCredentials = true
		case "max_age":
			if err := caddyfileopt.Duration(d, &h.MaxAge); err != nil {
				return err
			}
		default:
			return d.Errf("coven_cors: unknown option %q", d.Val())
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// CheckMatcher explains `coven_cors *`: Caddy reads the "*" as a matcher (every request), so no origin
// is allowed at all.
func (h *Handler) CheckMatcher(token string) error {
	if token == "*" && len(h.Origins) == 0 {
		return errors.New(`coven_cors: "*" was read as a request matcher (every request), so no origin is allowed; to allow every origin write "coven_cors { origins * }"`)
	}
	return nil
}
