package covenjwt

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	caddyfileopt.RegisterHandler[Handler]("coven_jwt", httpcaddyfile.After, "forward_auth")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_jwt [<matcher>]
//
// The verification settings (JWKS URL, issuer, audience, algorithms, leeway) live in the `coven`
// global option's jwt block, shared with the WebSocket stream.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("coven_jwt: takes no options (configure jwt in the coven global option)")
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
