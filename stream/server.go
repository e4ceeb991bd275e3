package stream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/hub"
)

// Defaults of Config.
const (
	DefaultAuthTimeout  = 5 * time.Second
	DefaultReadLimit    = 4096
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 10 * time.Second
	// MinReadLimit is the smallest ReadLimit: an auth message holds a token.
	MinReadLimit = 64
)

// Config holds the limits and timers of every session. Zero fields take the defaults.
type Config struct {
	// AuthTimeout is how long a client has to send its auth message (default 5s; then close 4002).
	AuthTimeout time.Duration
	// ReadLimit is the largest client message in bytes (default 4096; larger closes with 1009).
	ReadLimit int64
	// PingInterval is the time between WebSocket pings (default 30s).
	PingInterval time.Duration
	// PingTimeout is how long a pong may take; a client that does not answer in time is dropped
	// (default 10s). A silent client is therefore gone within PingInterval + PingTimeout.
	PingTimeout time.Duration
}

// WithDefaults fills the zero fields and validates the result.
func (c Config) WithDefaults() (Config, error) {
	if c.AuthTimeout < 0 || c.PingInterval < 0 || c.PingTimeout < 0 {
		return c, errors.New("durations must not be negative")
	}
	if c.ReadLimit < 0 || c.ReadLimit > 0 && c.ReadLimit < MinReadLimit {
		return c, errors.New("read_limit must be at least 64 bytes (an auth message holds a token)")
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.ReadLimit == 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	return c, nil
}

// Verifier checks a client's token; *auth.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, token string) (*auth.Claims, error)
}

// Observer is told what happens to sessions, for metrics. Nil fields are skipped.
type Observer struct {
	// Rejected: a session ended before it streamed, by reason: "auth_timeout", "bad_message",
	// "unauthorized", "subscribe".
	Rejected func(reason string)
	// AuthFailed: a token was refused, by auth.Reason label.
	AuthFailed func(reason string)
	// Dropped: the server ended a streaming session because of what the client did or did not do, by
	// reason: "ping_timeout", "read_limit", "bad_message", "unauthorized", "token_expired".
	Dropped func(reason string)
}

// Server runs the stream sessions of accepted WebSocket connections.
type Server struct {
	hub      *hub.Hub
	verifier Verifier
	cfg      Config
	obs      Observer
	logger   *zap.Logger

	sessions sync.WaitGroup
}

// NewServer returns a Server streaming h's events to clients whose tokens v accepts. A nil logger
// discards logs.
func NewServer(h *hub.Hub, v Verifier, cfg Config, obs Observer, logger *zap.Logger) (*Server, error) {
	if h == nil || v == nil {
		return nil, errors.New("stream: a hub and a verifier are required")
	}
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Server{hub: h, verifier: v, cfg: cfg, obs: obs, logger: logger}, nil
}

// Config returns the server's configuration, defaults filled in.
func (srv *Server) Config() Config { return srv.cfg }

// Serve takes over c, a connection just accepted, and returns at once: the session runs on goroutines
// of its own until it ends, and then c is closed. claims are those of the upgrade's Authorization
// header, or nil. remote names the client in logs.
func (srv *Server) Serve(c *websocket.Conn, claims *auth.Claims, remote string) {
	c.SetReadLimit(srv.cfg.ReadLimit)
	s := &session{srv: srv, c: c, claims: claims, remote: remote}
	srv.sessions.Add(1)
	// The session runs on its own goroutine so that the caller's (an HTTP handler's deep stack) is
	// released: an idle client then costs one small goroutine.
	go s.run()
}

// Wait blocks until every session served so far has ended and its goroutines are gone.
func (srv *Server) Wait() { srv.sessions.Wait() }

func (o Observer) rejected(reason string) {
	if o.Rejected != nil {
		o.Rejected(reason)
	}
}

func (o Observer) authFailed(reason string) {
	if o.AuthFailed != nil {
		o.AuthFailed(reason)
	}
}

func (o Observer) dropped(reason string) {
	if o.Dropped != nil {
		o.Dropped(reason)
	}
}
