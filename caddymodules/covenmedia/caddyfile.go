package covenmedia

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	caddyfileopt.RegisterHandler[Handler]("coven_media", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_media [<matcher>] {
//		worker          <host:port|URL>    # the worker's control address (its -listen), required
//		secret          <secret>           # the webhook secret, or:
//		secret_file     <path>
//		scheme          coven|standard     # the worker's webhook scheme, default coven
//		base_path       <path>             # default /api/table
//		spectators                         # any signed-in player may watch, not only members
//		user_id_claim   <claim>            # the caller's Discord user id, default discord_id
//		admin_claim     <claim> [<value>]  # administrators, default: claim admin is true
//		max_offer       <size>             # default 64KiB
//		request_timeout <duration>         # default 30s
//	}
//
// coven_jwt must run first; the coven global option provides the rooms.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "worker":
			err = caddyfileopt.String(d, &h.Worker)
		case "secret":
			err = caddyfileopt.String(d, &h.Secret)
		case "secret_file":
			err = caddyfileopt.String(d, &h.SecretFile)
		case "scheme":
			err = caddyfileopt.String(d, &h.Scheme)
		case "base_path":
			err = caddyfileopt.String(d, &h.BasePath)
		case "spectators":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Spectators = true
		case "user_id_claim":
			err = caddyfileopt.String(d, &h.UserIDClaim)
		case "admin_claim":
			err = caddyfileopt.ClaimValue(d, &h.AdminClaim, &h.AdminValue)
		case "max_offer":
			err = caddyfileopt.Size(d, &h.MaxOffer)
		case "request_timeout":
			err = caddyfileopt.Duration(d, &h.RequestTimeout)
		default:
			return d.Errf("coven_media: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
