package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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

	DefaultMaxPerSubject      = 10
	DefaultMaxPerIP           = 200
	DefaultMaxUnauthenticated = 20
	DefaultMessageRate        = 10.0
	DefaultMessageBurst       = 20
	DefaultRefusalDelay       = time.Second
	DefaultStreamRate         = 1.0
	DefaultStreamBurst        = 20
	// MaxRefusalDelay bounds RefusalDelay: a held socket keeps its place in the counts meanwhile.
	MaxRefusalDelay = 10 * time.Second
	// RefusalRetryAfter is the Retry-After of an upgrade refused for a limit: about the time a socket
	// waiting for its auth message takes to authenticate or be closed.
	RefusalRetryAfter = 5 * time.Second
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

	// MaxPerSubject bounds the streams one subject (the token's sub) holds at once (default 10); one
	// more is closed 4005 after its auth message.
	MaxPerSubject int
	// MaxPerIP bounds the sockets from one client IP, authenticated or not (default 200); one more is
	// refused before the upgrade with 429.
	MaxPerIP int
	// MaxUnauthenticated bounds the sockets from one client IP still waiting for their auth message
	// (default 20); one more is refused before the upgrade with 429.
	MaxUnauthenticated int
	// MaxConnections bounds the sockets of the whole process (default 0: no limit); one more is
	// refused before the upgrade with 429.
	MaxConnections int
	// MessageRate is the client messages a connection may send per second on average (default 10),
	// MessageBurst how many at once (default 20); faster closes the stream 4029.
	MessageRate  float64
	MessageBurst int
	// StreamRate is the new streams one subject may open per second on average (default 1),
	// StreamBurst how many at once (default 20); one more is closed 4029 after its auth message.
	// Browsers that reconnect with backoff stay far below it; a client reconnecting in a loop does not.
	StreamRate  float64
	StreamBurst int
	// RefusalDelay is how long a socket whose auth message is refused (a bad or expired token, or a
	// subject at MaxPerSubject) is held before it is closed (default 1s, at most 10s). A client that
	// reconnects in a loop then costs one signature check per delay instead of one per round trip;
	// meanwhile the socket keeps its place among its IP's unauthenticated ones, so one IP cannot hold
	// more than MaxUnauthenticated of them at once.
	RefusalDelay time.Duration
}

// WithDefaults fills the zero fields and validates the result.
func (c Config) WithDefaults() (Config, error) {
	switch {
	case c.AuthTimeout < 0 || c.PingInterval < 0 || c.PingTimeout < 0:
		return c, errors.New("durations must not be negative")
	case c.ReadLimit < 0 || c.ReadLimit > 0 && c.ReadLimit < MinReadLimit:
		return c, errors.New("read_limit must be at least 64 bytes (an auth message holds a token)")
	case c.MaxPerSubject < 0 || c.MaxPerIP < 0 || c.MaxUnauthenticated < 0 || c.MaxConnections < 0:
		return c, errors.New("connection limits must not be negative")
	case c.MessageRate < 0 || c.MessageBurst < 0:
		return c, errors.New("message_rate and its burst must not be negative")
	case c.StreamRate < 0 || c.StreamBurst < 0:
		return c, errors.New("stream_rate and its burst must not be negative")
	case c.RefusalDelay < 0 || c.RefusalDelay > MaxRefusalDelay:
		return c, fmt.Errorf("refusal_delay %v: want at most %v", c.RefusalDelay, MaxRefusalDelay)
	}
	setDefault(&c.AuthTimeout, DefaultAuthTimeout)
	setDefault(&c.ReadLimit, DefaultReadLimit)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.PingTimeout, DefaultPingTimeout)
	setDefault(&c.MaxPerSubject, DefaultMaxPerSubject)
	setDefault(&c.MaxPerIP, DefaultMaxPerIP)
	setDefault(&c.MaxUnauthenticated, DefaultMaxUnauthenticated)
	setDefault(&c.MessageRate, DefaultMessageRate)
	setDefault(&c.MessageBurst, DefaultMessageBurst)
	setDefault(&c.RefusalDelay, DefaultRefusalDelay)
	setDefault(&c.StreamRate, DefaultStreamRate)
	setDefault(&c.StreamBurst, DefaultStreamBurst)
	return c, nil
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Verifier checks a client's token; *auth.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, token string) (*auth.Claims, error)
}

// Observer is told what happens to sessions, for metrics. Nil fields are skipped.
type Observer struct {
	// Rejected: a socket refused before its upgrade or a session ended before it streamed, by reason:
	// "auth_timeout", "bad_message", "unauthorized", "read_limit", "subscribe", or a limit's (Reason*).
	Rejected func(reason string)
	// AuthFailed: a token was refused, by auth.Reason label.
	AuthFailed func(reason string)
	// Dropped: the server ended a streaming session because of what the client did or did not do, by
	// reason: "ping_timeout", "read_limit", "bad_message", "unauthorized", "token_expired",
	// "message_rate".
	Dropped func(reason string)
}

// Server runs the stream sessions of accepted WebSocket connections.
type Server struct {
	hub      *hub.Hub
	verifier Verifier
	tracker  *Tracker
	cfg      Config
	obs      Observer
	logger   *zap.Logger

	// live counts the sessions running; ended is signalled when it falls to zero. (A WaitGroup would
	// forbid a session starting while Wait runs, which an HTTP server cannot promise.)
	mu    sync.Mutex
	ended sync.Cond
	live  int
}

// NewServer returns a Server streaming h's events to clients whose tokens v accepts, counting its
// sockets in t (a private Tracker if nil). A nil logger discards logs.
func NewServer(h *hub.Hub, v Verifier, t *Tracker, cfg Config, obs Observer, logger *zap.Logger) (*Server, error) {
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
	if t == nil {
		t = NewTracker()
	}
	srv := &Server{hub: h, verifier: v, tracker: t, cfg: cfg, obs: obs, logger: logger}
	srv.ended.L = &srv.mu
	return srv, nil
}

// Config returns the server's configuration, defaults filled in.
func (srv *Server) Config() Config { return srv.cfg }

// Admit counts a socket about to be upgraded from the client IP ip, or refuses it with the reason
// (counted and logged): then answer 429 with Retry-After RefusalRetryAfter and do not upgrade. An
// admitted socket is handed to Serve with its Admission, or its Admission released.
func (srv *Server) Admit(ip string) (*Admission, string) {
	a, reason := srv.tracker.admit(ip, srv.cfg)
	if a == nil {
		srv.obs.rejected(reason)
		srv.logRefusal(reason, "ip", ip)
	}
	return a, reason
}

// Serve takes over sock, a socket just accepted (Accept), and returns at once: the session runs on goroutines
// of its own until it ends, and then sock is closed and a released. claims are those of the upgrade's
// Authorization header, or nil. remote names the client in logs.
func (srv *Server) Serve(sock *Socket, a *Admission, claims *auth.Claims, remote string) {
	sock.ws.SetReadLimit(srv.cfg.ReadLimit)
	s := &session{srv: srv, sock: sock, c: sock.ws, adm: a, remote: remote}
	sock.onPong = s.onPong // before the session's first read, which is where pongs are read
	if claims != nil {
		s.user, s.expires = claims.Subject, claims.Expiry
	}
	srv.mu.Lock()
	srv.live++
	srv.mu.Unlock()
	// The session runs on its own goroutine so that the caller's (an HTTP handler's deep stack) is
	// released: an idle client then costs one small goroutine.
	go s.run()
}

// logRefusal logs a refusal for a limit, at most once per RefusalLogInterval for one key.
func (srv *Server) logRefusal(reason, keyName, key string) {
	if srv.tracker.shouldLog(reason+" "+key, time.Now()) {
		srv.logger.Warn("stream refused: over a limit", zap.String("reason", reason), zap.String(keyName, key),
			zap.Duration("next_log_after", RefusalLogInterval))
	}
}

// Wait blocks until no session is running: every one served has ended and its goroutines are gone.
func (srv *Server) Wait() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for srv.live > 0 {
		srv.ended.Wait()
	}
}

// sessionEnded counts a session out.
func (srv *Server) sessionEnded() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.live--; srv.live == 0 {
		srv.ended.Broadcast()
	}
}

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
