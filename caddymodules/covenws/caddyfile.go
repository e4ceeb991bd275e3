package covenws

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	caddyfileopt.RegisterHandler[Handler]("coven_ws", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_ws [<matcher>] {
//		origins       <origin...>   # default: same origin only
//		auth_timeout  <duration>    # default 5s
//		read_limit    <size>        # default 4KiB
//		ping_interval <duration>    # default 30s
//		ping_timeout  <duration>    # default 10s
//		max_per_subject     <n>     # default 10
//		max_per_ip          <n>     # default 200
//		max_unauthenticated <n>     # default 20
//		max_connections     <n>     # default 0 (no limit)
//		message_rate        <n>/s [<burst>]  # default 10/s burst 20
//		stream_rate         <n>/s [<burst>]  # new streams per user, default 1/s burst 20
//		refusal_delay       <duration>       # default 1s
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "origins":
			h.Origins = append(h.Origins, d.RemainingArgs()...)
		case "auth_timeout":
			err = caddyfileopt.Duration(d, &h.AuthTimeout)
		case "read_limit":
			err = caddyfileopt.Size(d, &h.ReadLimit)
		case "ping_interval":
			err = caddyfileopt.Duration(d, &h.PingInterval)
		case "ping_timeout":
			err = caddyfileopt.Duration(d, &h.PingTimeout)
		case "max_per_subject":
			err = caddyfileopt.Int(d, &h.MaxPerSubject)
		case "max_per_ip":
			err = caddyfileopt.Int(d, &h.MaxPerIP)
		case "max_unauthenticated":
			err = caddyfileopt.Int(d, &h.MaxUnauthenticated)
		case "max_connections":
			err = caddyfileopt.Int(d, &h.MaxConnections)
		case "message_rate":
			err = caddyfileopt.Rate(d, &h.MessageRate, &h.MessageBurst)
		case "stream_rate":
			err = caddyfileopt.Rate(d, &h.StreamRate, &h.StreamBurst)
		case "refusal_delay":
			err = caddyfileopt.Duration(d, &h.RefusalDelay)
		default:
			return d.Errf("coven_ws: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
