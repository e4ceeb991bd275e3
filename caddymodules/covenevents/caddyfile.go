package covenevents

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	caddyfileopt.RegisterHandler[Handler]("coven_events", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_events {
//		max_batch_events <n>   # default: the coven app's, 1000
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_batch_events":
			if err := caddyfileopt.Int(d, &h.MaxBatchEvents); err != nil {
				return err
			}
		default:
			return d.Errf("coven_events: unknown option %q", d.Val())
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
