// Package covenhealth is the Caddy HTTP handler `coven_health`: one JSON document for load balancers
// and people saying whether this edge can serve (hub and broker), whether it can verify users (JWKS),
// and when the worker last delivered events.
//
// The status code is what a load balancer needs: 200 while this instance can serve clients, 503 when
// it cannot (broker unavailable). A quiet or absent worker makes the edge "degraded", not unhealthy:
// taking edges out of rotation would not bring the worker back.
package covenhealth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultWorkerStaleAfter is how long without a delivery before the worker is reported stale. The
// worker probes the edge with an empty batch more often than this even when Discord is quiet.
const DefaultWorkerStaleAfter = 2 * time.Minute

// Handler answers health checks.
type Handler struct {
	// WorkerStaleAfter is how long without any delivery from the worker before the edge reports itself
	// degraded (default 2m).
	WorkerStaleAfter caddy.Duration `json:"worker_stale_after,omitempty"`
	// Details says who gets the detailed document: client IPs in these ranges (CIDR), or "always",
	// or "never" (default: private_ranges, Caddy's loopback and private networks). Others get the
	// public form, {"status":"..."} with the same status code: the details name the broker's and the
	// identity provider's errors, counts of clients and rooms, and Discord's refusals.
	Details []string `json:"details,omitempty"`

	app     *covenapp.App
	always  bool
	details []netip.Prefix
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_health",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the `coven` app.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := covenapp.FromContext(ctx)
	if err != nil {
		return err
	}
	h.app = app
	if h.WorkerStaleAfter == 0 {
		h.WorkerStaleAfter = caddy.Duration(DefaultWorkerStaleAfter)
	}
	return h.parseDetails()
}

// parseDetails reads Details.
func (h *Handler) parseDetails() error {
	entries := h.Details
	if len(entries) == 0 {
		entries = []string{"private_ranges"}
	}
	for _, e := range entries {
		switch e {
		case "always":
			h.always = true
		case "never":
		case "private_ranges":
			for _, r := range caddyhttp.PrivateRangesCIDR() {
				p, err := parseRange(r)
				if err != nil {
					return fmt.Errorf("coven_health: Caddy's private range %q: %w", r, err)
				}
				h.details = append(h.details, p)
			}
		default:
			p, err := parseRange(e)
			if err != nil {
				return fmt.Errorf("coven_health: details %q: want always, never, private_ranges, or an IP range such as 10.0.0.0/8", e)
			}
			h.details = append(h.details, p)
		}
	}
	if len(entries) > 1 && (h.always || len(h.details) == 0) {
		return errors.New("coven_health: details takes always or never alone, or ranges")
	}
	return nil
}

// parseRange reads a CIDR range or a single address.
func parseRange(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return a.Prefix(a.BitLen())
}

// detailed reports whether r's client gets the detailed document.
func (h *Handler) detailed(r *http.Request) bool {
	if h.always {
		return true
	}
	if len(h.details) == 0 {
		return false
	}
	ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if !ok || ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range h.details {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Report is the health document.
type Report struct {
	// Status is "ok", "starting" (serving, but no state from the worker yet: clients are told the
	// rooms are not known), "degraded" (serving, but something needs attention) or "down" (503).
	Status   string       `json:"status"`
	Problems []string     `json:"problems,omitempty"`
	Hub      HubReport    `json:"hub"`
	Broker   BrokerReport `json:"broker"`
	JWKS     *JWKSReport  `json:"jwks,omitempty"`
	// Discord describes the rooms API's link to Discord's REST API, when a bot token is configured.
	Discord  *discordrest.Status `json:"discord,omitempty"`
	Worker   WorkerReport        `json:"worker"`
	Position event.Position      `json:"position"`
}

// PublicReport is what clients outside Details get: the status alone.
type PublicReport struct {
	Status string `json:"status"`
}

// HubReport describes the hub.
type HubReport struct {
	OK      bool  `json:"ok"`
	Clients int64 `json:"clients"`
	Rooms   int   `json:"rooms"`
}

// BrokerReport describes the event broker.
type BrokerReport struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// JWKSReport describes the JWT key set.
type JWKSReport struct {
	Loaded    bool       `json:"loaded"`
	Keys      int        `json:"keys"`
	LastFetch *time.Time `json:"last_fetch,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

// WorkerReport says when the worker last delivered.
type WorkerReport struct {
	LastDelivery *time.Time `json:"last_delivery,omitempty"`
	AgeSeconds   *float64   `json:"age_seconds,omitempty"`
	Stale        bool       `json:"stale"`
}

// Check builds the report.
func (h *Handler) Check(now time.Time) (Report, int) {
	hb := h.app.EventHub()
	st, health := hb.Stats(), hb.Health()
	pos, snap := hb.Snapshot()
	r := Report{
		Status:   "ok",
		Hub:      HubReport{OK: health.OK, Clients: st.Subscribers, Rooms: len(snap.Rooms)},
		Broker:   BrokerReport{OK: health.Broker == hub.BrokerOK, Error: health.BrokerError},
		Position: pos,
	}
	code := http.StatusOK
	jwksLoading := false
	if !health.OK {
		r.Status, code = "down", http.StatusServiceUnavailable
		problem := "hub not running"
		if health.BrokerError != "" {
			problem = "broker unavailable: " + health.BrokerError
		}
		r.Problems = append(r.Problems, problem)
	}
	if v := h.app.Verifier(); v != nil {
		vs := v.Status()
		j := &JWKSReport{Loaded: vs.KeysLoaded, Keys: vs.KeyCount}
		if vs.LastError != nil {
			j.LastError = vs.LastError.Error()
		}
		if !vs.LastFetch.IsZero() {
			t := vs.LastFetch
			j.LastFetch = &t
		}
		r.JWKS = j
		switch {
		case !vs.KeysLoaded && vs.LastAttempt.IsZero():
			// The first fetch, started with the edge, has not ended: starting, not a fault.
			jwksLoading = true
		case !vs.KeysLoaded:
			r.Problems = append(r.Problems, "JWKS not loaded: users cannot sign in")
		}
	}
	if d := h.app.DiscordREST(); d != nil {
		ds := d.Status(now)
		r.Discord = &ds
		switch {
		case ds.TokenRejected:
			r.Problems = append(r.Problems, "Discord rejected the bot token: rooms cannot be created or deleted")
		case ds.Refusing:
			r.Problems = append(r.Problems, "not calling Discord: "+ds.Refusal)
		}
	}
	if !st.LastIngest.IsZero() {
		t := st.LastIngest
		age := now.Sub(t).Seconds()
		r.Worker.LastDelivery, r.Worker.AgeSeconds = &t, &age
	}
	others := len(r.Problems) // problems other than the worker's silence and the missing state
	if st.LastIngest.IsZero() || now.Sub(st.LastIngest) > time.Duration(h.WorkerStaleAfter) {
		r.Worker.Stale = true
		r.Problems = append(r.Problems, "no delivery from the worker recently")
	}
	if jwksLoading {
		r.Problems = append(r.Problems, "JWKS not loaded yet: the first fetch is under way")
	}
	if r.Status == "ok" && (pos.IsZero() || jwksLoading) {
		// Serving, but nothing from the worker yet (a fresh or restarted edge): clients are told the
		// state is unknown until its snapshot arrives. Still 200: the worker's deliveries come through
		// the same load balancer. Another problem (a rejected bot token) makes it degraded instead.
		if pos.IsZero() {
			r.Problems = append(r.Problems, "no state from the worker yet: clients are told the rooms are not known")
		}
		if others == 0 {
			r.Status = "starting"
		}
	}
	if r.Status == "ok" && len(r.Problems) > 0 {
		r.Status = "degraded"
	}
	return r, code
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	rep, code := h.Check(time.Now())
	if !h.detailed(r) {
		jsonerror.WriteJSON(w, code, PublicReport{Status: rep.Status})
		return nil
	}
	jsonerror.WriteJSON(w, code, rep)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
