// Package covenws is the Caddy HTTP handler `coven_ws`: the WebSocket stream of room and voice events
// to browsers. It holds the configuration, checks the origin, authenticates an Authorization header if
// the upgrade has one, and upgrades; the stream protocol itself is package stream.
package covenws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/covenjwt"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/caddymodules/internal/origin"
	"github.com/spellcoven/gateway/caddymodules/internal/placeholder"
	"github.com/spellcoven/gateway/stream"
)

func init() {
	caddy.RegisterModule(Handler{})
}

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
	// MaxPerSubject bounds the streams one subject (JWT sub) holds at once (default 10; then close 4005).
	MaxPerSubject int `json:"max_per_subject,omitempty"`
	// MaxPerIP bounds the sockets from one client IP (default 200; then 429 before the upgrade).
	MaxPerIP int `json:"max_per_ip,omitempty"`
	// MaxUnauthenticated bounds the sockets from one client IP waiting for their auth message
	// (default 20; then 429 before the upgrade).
	MaxUnauthenticated int `json:"max_unauthenticated,omitempty"`
	// MaxConnections bounds the sockets of the whole edge (default 0: no limit; then 429).
	MaxConnections int `json:"max_connections,omitempty"`
	// MessageRate is the client messages per second one connection may send (default 10), with
	// MessageBurst at once (default 20); faster closes the stream 4029.
	MessageRate  float64 `json:"message_rate,omitempty"`
	MessageBurst int     `json:"message_burst,omitempty"`
	// StreamRate is the new streams one subject may open per second (default 1), with StreamBurst
	// at once (default 20); faster closes the new stream 4029.
	StreamRate  float64 `json:"stream_rate,omitempty"`
	StreamBurst int     `json:"stream_burst,omitempty"`
	// RefusalDelay is how long a socket whose auth message is refused (bad token, or the subject at
	// max_per_subject) is held before it is closed (default 1s, at most 10s): it slows clients that
	// reconnect in a loop.
	RefusalDelay caddy.Duration `json:"refusal_delay,omitempty"`

	origins  *origin.List
	verifier *auth.Verifier
	metrics  *covenapp.Metrics
	stream   *stream.Server
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
	h.verifier = app.Verifier()
	h.metrics = covenapp.SharedMetrics(ctx)
	entries, err := placeholder.Fields(caddy.NewReplacer(), "origins", h.Origins)
	if err != nil {
		return fmt.Errorf("coven_ws: %w", err)
	}
	if h.origins, err = origin.Parse(entries); err != nil {
		return fmt.Errorf("coven_ws: %w", err)
	}
	m := h.metrics
	h.stream, err = stream.NewServer(app.EventHub(), latestVerifier{h.verifier}, tracker, h.streamConfig(), stream.Observer{
		Rejected:   func(reason string) { m.WSRejected.WithLabelValues(reason).Inc() },
		AuthFailed: func(reason string) { m.AuthFailures.WithLabelValues(reason, "ws").Inc() },
		Dropped:    func(reason string) { m.WSDropped.WithLabelValues(reason).Inc() },
	}, ctx.Logger())
	if err != nil {
		return fmt.Errorf("coven_ws: %w", err)
	}
	registerSocketGauges(ctx.GetMetricsRegistry())
	cfg := h.stream.Config()
	h.AuthTimeout, h.ReadLimit = caddy.Duration(cfg.AuthTimeout), cfg.ReadLimit
	h.PingInterval, h.PingTimeout = caddy.Duration(cfg.PingInterval), caddy.Duration(cfg.PingTimeout)
	h.MaxPerSubject, h.MaxPerIP, h.MaxUnauthenticated = cfg.MaxPerSubject, cfg.MaxPerIP, cfg.MaxUnauthenticated
	h.MessageRate, h.MessageBurst = cfg.MessageRate, cfg.MessageBurst
	h.StreamRate, h.StreamBurst = cfg.StreamRate, cfg.StreamBurst
	h.RefusalDelay = caddy.Duration(cfg.RefusalDelay)
	return nil
}

// latestVerifier verifies with the JWT settings of the configuration that started last, so that a
// session opened under an earlier configuration (a reload keeps it) re-authenticates under the
// current settings; before any has started, with its own configuration's.
type latestVerifier struct{ own *auth.Verifier }

func (l latestVerifier) Verify(ctx context.Context, token string) (*auth.Claims, error) {
	if v := covenapp.CurrentVerifier(); v != nil {
		return v.Verify(ctx, token)
	}
	return l.own.Verify(ctx, token)
}

// tracker counts the sockets of every coven_ws handler of the process, across reloads, for the limits.
var tracker = stream.NewTracker()

// socketGauges export the tracker's counts: every socket the edge holds, authenticated or not (the
// coven_ws_connections gauge counts only subscribed streams).
var socketGauges = []prometheus.Collector{
	prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "coven", Name: "ws_sockets",
		Help: "WebSocket connections the edge holds, authenticated or not."},
		func() float64 { return float64(tracker.Counts().Total) }),
	prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "coven", Name: "ws_unauthenticated",
		Help: "WebSocket connections still waiting for their auth message."},
		func() float64 { return float64(tracker.Counts().Unauthenticated) }),
}

func registerSocketGauges(reg *prometheus.Registry) {
	if reg == nil {
		return
	}
	for _, c := range socketGauges {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // descriptors clash: a programming error
			}
		}
	}
}

func (h *Handler) streamConfig() stream.Config {
	return stream.Config{
		AuthTimeout:  time.Duration(h.AuthTimeout),
		ReadLimit:    h.ReadLimit,
		PingInterval: time.Duration(h.PingInterval),
		PingTimeout:  time.Duration(h.PingTimeout),

		MaxPerSubject:      h.MaxPerSubject,
		MaxPerIP:           h.MaxPerIP,
		MaxUnauthenticated: h.MaxUnauthenticated,
		MaxConnections:     h.MaxConnections,
		MessageRate:        h.MessageRate,
		MessageBurst:       h.MessageBurst,
		StreamRate:         h.StreamRate,
		StreamBurst:        h.StreamBurst,
		RefusalDelay:       time.Duration(h.RefusalDelay),
	}
}

// Validate checks limits.
func (h *Handler) Validate() error {
	if _, err := h.streamConfig().WithDefaults(); err != nil {
		return fmt.Errorf("coven_ws: %w", err)
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
	adm, reason := h.stream.Admit(clientIP(r))
	if adm == nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(stream.RefusalRetryAfter/time.Second)))
		jsonerror.Write(w, http.StatusTooManyRequests, "too_many_connections", refusalMessage[reason])
		return nil
	}
	var claims *auth.Claims
	if token, ok := covenjwt.BearerToken(r.Header); ok {
		c, err := h.verifier.Verify(r.Context(), token)
		if err != nil {
			adm.Release()
			h.metrics.AuthFailures.WithLabelValues(auth.Reason(err), "ws").Inc()
			jsonerror.WriteReason(w, http.StatusUnauthorized, "unauthorized", auth.Reason(err), err.Error())
			return nil
		}
		claims = c
	}
	c, err := stream.Accept(w, r, &websocket.AcceptOptions{
		// The Origin was checked above against our own allowlist.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has answered the client already.
		adm.Release()
		h.metrics.WSRejected.WithLabelValues("handshake").Inc()
		return nil
	}
	h.stream.Serve(c, adm, claims, r.RemoteAddr)
	return nil
}

// refusalMessage explains a 429 by the limit it hit.
var refusalMessage = map[string]string{
	stream.ReasonMaxConnections:     "the edge holds as many streams as it allows; retry later",
	stream.ReasonMaxPerIP:           "this address holds as many streams as the edge allows; retry later",
	stream.ReasonMaxUnauthenticated: "this address holds as many unauthenticated sockets as the edge allows; authenticate those first",
}

// clientIP is the client's address as Caddy determined it: the connection's peer, or the address a
// trusted proxy forwarded (the server's trusted_proxies and client_ip_headers).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
)
