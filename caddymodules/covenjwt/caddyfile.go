package covenjwt

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("coven_jwt", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("coven_jwt", httpcaddyfile.After, "forward_auth")
}

// parseCaddyfile sets up the coven_jwt middleware. Syntax:
//
//	coven_jwt [<matcher>]
//
// The verification settings (JWKS URL, issuer, audience, algorithms, leeway) live in the `coven`
// global option's jwt block, shared with the WebSocket stream.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile takes no options.
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
