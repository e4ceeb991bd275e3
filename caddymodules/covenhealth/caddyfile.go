package covenhealth

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	caddyfileopt.RegisterHandler[Handler]("coven_health", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	coven_health [<matcher>] {
//		worker_stale_after <duration>   # default 2m
//		details always|never|<range...> # who gets the detailed document, default private_ranges
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "worker_stale_after":
			if err := caddyfileopt.Duration(d, &h.WorkerStaleAfter); err != nil {
				return err
			}
		case "details":
			h.Details = d.RemainingArgs()
			if len(h.Details) == 0 {
				return d.Err("coven_health: details: expected always, never, private_ranges or IP ranges")
			}
		default:
			return d.Errf("coven_health: unknown option %q", d.Val())
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
