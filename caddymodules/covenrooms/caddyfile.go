package covenrooms

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("coven_rooms", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("coven_rooms", httpcaddyfile.Before, "respond")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_rooms [<matcher>] {
//		base_path        <path>             # default /api/rooms
//		user_id_claim    <claim>            # the caller's Discord user id, default discord_id
//		admin_claim      <claim> [<value>]  # administrators, default: claim admin is true
//		max_body         <size>             # default 4KiB
//		request_timeout  <duration>         # default 10s
//		max_owned_rooms  <n>                # rooms one user owns at once, default 3
//		max_creations    <n>                # creations per creation_window, default 5
//		creation_window  <duration>         # default 1m
//		idempotency_ttl  <duration>         # default 24h
//		idempotency_keys <n>                # default 10000
//		idempotency_keys_per_user <n>       # default 100
//		request_rate     <n>/s [<burst>]    # default 5/s 20
//		voice_bots       <user id>...       # the worker's voice bots, let in by table view
//	}
//
// Guild, category and bot token come from the coven global option; coven_jwt must run first.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "base_path":
			err = caddyfileopt.String(d, &h.BasePath)
		case "user_id_claim":
			err = caddyfileopt.String(d, &h.UserIDClaim)
		case "admin_claim":
			err = caddyfileopt.ClaimValue(d, &h.AdminClaim, &h.AdminValue)
		case "max_body":
			err = caddyfileopt.Size(d, &h.MaxBody)
		case "request_timeout":
			err = caddyfileopt.Duration(d, &h.RequestTimeout)
		case "max_owned_rooms":
			err = caddyfileopt.Int(d, &h.MaxOwnedRooms)
		case "max_creations":
			err = caddyfileopt.Int(d, &h.MaxCreations)
		case "creation_window":
			err = caddyfileopt.Duration(d, &h.CreationWindow)
		case "idempotency_ttl":
			err = caddyfileopt.Duration(d, &h.IdempotencyTTL)
		case "idempotency_keys":
			err = caddyfileopt.Int(d, &h.IdempotencyKeys)
		case "idempotency_keys_per_user":
			err = caddyfileopt.Int(d, &h.IdempotencyKeysPerUser)
		case "request_rate":
			err = caddyfileopt.Rate(d, &h.RequestRate, &h.RequestBurst)
		case "voice_bots":
			ids := d.RemainingArgs()
			if len(ids) == 0 {
				return d.Err("coven_rooms: voice_bots takes the voice bots' user ids")
			}
			h.VoiceBots = append(h.VoiceBots, ids...)
		default:
			return d.Errf("coven_rooms: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
