// Package covenws is the Caddy HTTP handler `coven_ws`: the WebSocket stream of room and voice events
// to browsers (DESIGN.md, "WebSocket stream").
//
// A client connects, then authenticates with its first message,
// {"type":"auth","token":"<JWT>","resume":{"epoch":"...","seq":N}} ("resume" optional; with an
// "Authorization: Bearer" header on the upgrade the token may be omitted, but the first message is still
// expected, carrying "resume" if any). The server answers one hello, then events in order, each once.
// A client re-sends an auth message before its token expires to extend the session; otherwise the
// stream closes with 4003 at expiry.
//
// Frames come from the hub already serialized. When a client has several queued they arrive as one
// WebSocket message, joined by '\n'; a client splits each message on '\n'.
package covenws

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/covenjwt"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/caddymodules/internal/origin"
	"github.com/spellcoven/gateway/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Close codes of the stream, beside the standard 1009 (frame too big) and 1012 (restarting).
const (
	CloseUnauthorized = 4001
	CloseNoAuth       = 4002
	CloseTokenExpired = 4003
	CloseTooSlow      = 4008
)

// Defaults.
const (
	DefaultAuthTimeout  = 5 * time.Second
	DefaultReadLimit    = 4096
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 10 * time.Second
)

// Handler upgrades requests to the event stream.
type Handler struct {
	// Origins allowed to open the stream from a browser (exact origins, "https://*.example.com", or
	// "*"). Default: only the same origin as the request's host. Requests without an Origin header
	// (non-browser clients) are allowed; they must still authenticate.
	Origins []string `json:"origins,omitempty"`
	// AuthTimeout is how long a client has to send its auth message (default 5s; then close 4002).
	AuthTimeout caddy.Duration `json:"auth_timeout,omitempty"`
	// ReadLimit is the largest client message in bytes (default 4096; larger closes with 1009).
	ReadLimit int64 `json:"read_limit,omitempty"`
	// PingInterval is the time between WebSocket pings (default 30s).
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`
	// PingTimeout is how long a pong may take before the connection is dropped (default 10s).
	PingTimeout caddy.Duration `json:"ping_timeout,omitempty"`

	origins  *origin.List
	hub      *hub.Hub
	verifier *auth.Verifier
	metrics  *covenapp.Metrics
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_ws",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the `coven` app's hub and verifier and fills in defaults.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := covenapp.FromContext(ctx)
	if err != nil {
		return fmt.Errorf("coven_ws: %w", err)
	}
	if app.Verifier() == nil {
		return errors.New("coven_ws: the coven app has no jwt configuration (add a jwt block to the coven global option)")
	}
	h.hub, h.verifier = app.EventHub(), app.Verifier()
	h.metrics = covenapp.SharedMetrics(ctx)
	h.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	var entries []string
	for _, o := range h.Origins {
		entries = append(entries, strings.Fields(repl.ReplaceKnown(o, ""))...)
	}
	if h.origins, err = origin.Parse(entries); err != nil {
		return fmt.Errorf("coven_ws: %w", err)
	}
	if h.AuthTimeout == 0 {
		h.AuthTimeout = caddy.Duration(DefaultAuthTimeout)
	}
	if h.ReadLimit == 0 {
		h.ReadLimit = DefaultReadLimit
	}
	if h.PingInterval == 0 {
		h.PingInterval = caddy.Duration(DefaultPingInterval)
	}
	if h.PingTimeout == 0 {
		h.PingTimeout = caddy.Duration(DefaultPingTimeout)
	}
	return nil
}

// Validate checks limits.
func (h *Handler) Validate() error {
	switch {
	case h.AuthTimeout < 0, h.PingInterval < 0, h.PingTimeout < 0:
		return errors.New("coven_ws: durations must not be negative")
	case h.ReadLimit < 64:
		return errors.New("coven_ws: read_limit must be at least 64 bytes (an auth message holds a token)")
	}
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		jsonerror.Write(w, http.StatusUpgradeRequired, "upgrade_required", "this endpoint speaks WebSocket")
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" && !h.originAllowed(o, r) {
		h.metrics.WSRejected.WithLabelValues("origin").Inc()
		jsonerror.Write(w, http.StatusForbidden, "origin_not_allowed", "origin "+o+" may not open this stream")
		return nil
	}
	var claims *auth.Claims
	if token, ok := covenjwt.BearerToken(r.Header); ok {
		c, err := h.verifier.Verify(r.Context(), token)
		if err != nil {
			h.metrics.AuthFailures.WithLabelValues(auth.Reason(err), "ws").Inc()
			jsonerror.Write(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return nil
		}
		claims = c
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The Origin was checked above against our own allowlist.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has answered the client already.
		h.metrics.WSRejected.WithLabelValues("handshake").Inc()
		return nil
	}
	c.SetReadLimit(h.ReadLimit)
	s := &session{h: h, c: c, claims: claims, remote: r.RemoteAddr}
	// The session runs on its own goroutine so that this request's deep handler stack is released:
	// an idle client then costs one small goroutine. The request (and its context, cancelled when this
	// returns) is not used after this point.
	go s.run()
	return nil
}

func (h *Handler) originAllowed(o string, r *http.Request) bool {
	if !h.origins.Empty() {
		return h.origins.Allows(o)
	}
	// Same origin: the Origin's host must be the host the request was made to.
	_, host, ok := strings.Cut(o, "://")
	return ok && strings.EqualFold(host, r.Host)
}

func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerContainsToken(r.Header, "Connection", "upgrade")
}

func headerContainsToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ hub.Conn                    = (*wsConn)(nil)
)
