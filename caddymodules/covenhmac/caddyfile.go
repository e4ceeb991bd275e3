package covenhmac

import (
	"errors"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	// Authentication comes before anything that acts on the request.
	caddyfileopt.RegisterHandler[Handler]("coven_hmac", httpcaddyfile.After, "basic_auth")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_hmac [<matcher>] [<secret>] {   // a first "*", "/…" or "@…" is a matcher
//		scheme      coven|standard   # default coven
//		secret      <secret>         # repeat for key rotation
//		secret_file <path>
//		tolerance   <duration>       # default 60s (coven), 5m (standard)
//		max_body    <size>           # default 1MiB
//		dedupe      on|off           # standard: answer a repeated webhook-id once, default on
//		max_ids     <n>              # ids remembered, default 10000
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		h.Secrets = append(h.Secrets, d.Val())
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "scheme":
			err = caddyfileopt.String(d, &h.Scheme)
		case "secret":
			var s string
			err = caddyfileopt.String(d, &s)
			h.Secrets = append(h.Secrets, s)
		case "secret_file":
			var s string
			err = caddyfileopt.String(d, &s)
			h.SecretFiles = append(h.SecretFiles, s)
		case "tolerance":
			err = caddyfileopt.Duration(d, &h.Tolerance)
		case "max_body":
			err = caddyfileopt.Size(d, &h.MaxBody)
		case "dedupe":
			err = caddyfileopt.String(d, &h.Dedupe)
		case "max_ids":
			err = caddyfileopt.Int(d, &h.MaxIDs)
		default:
			return d.Errf("coven_hmac: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// CheckMatcher explains a secret that starts with "/" (base64 may): Caddy reads it as a path matcher,
// so the handler has no secret and the route matches almost nothing. The token is not repeated: it may
// be the secret.
func (h *Handler) CheckMatcher(token string) error {
	if strings.HasPrefix(token, "/") && len(h.Secrets) == 0 && len(h.SecretFiles) == 0 {
		return errors.New(`coven_hmac: the first argument starts with "/" and was read as a path matcher, and no secret is configured; if it is the secret, write it in the block: "coven_hmac { secret <secret> }"`)
	}
	return nil
}
