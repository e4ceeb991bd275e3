package discordtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running (or ready to run) Discord emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ids   snowflakes
	voice VoiceBackend

	// mu guards the world and every gateway session, so that a change of the world and the
	// dispatches it causes are one step: no session sees them half done or out of order.
	mu       sync.Mutex
	world    *world
	sessions map[string]*session
	conns    map[*gatewayConn]struct{}
	throttle identifyThrottle
	obs      observations
	// voiceGrants holds the last VOICE_SERVER_UPDATE per guild and user.
	voiceGrants map[string]VoiceGrant

	limiter *restLimiter
	// tokenReset is set once the bot used up its session starts: Discord then resets its token,
	// so every configured token stops working.
	tokenReset atomic.Bool
	// voiceTokenReset holds the voice bots (user IDs) whose tokens were reset alike, and
	// voiceThrottles their identify limits (guarded by mu).
	voiceTokenReset sync.Map
	voiceThrottles  map[string]*identifyThrottle
	// voiceBotIDs are the voice bots' user IDs, in the order of Config.VoiceBots; set by New.
	voiceBotIDs []string
	faults      *faultSet

	httpSrv *http.Server
	ln      net.Listener
	baseURL string
	// httpWG counts HTTP connections not yet closed or hijacked; connWG counts gateway connections.
	httpWG   sync.WaitGroup
	connWG   sync.WaitGroup
	serveErr chan error
	closed   bool
}

// New builds an emulator from cfg, filling in defaults. It does not listen yet: see Start.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: make(map[string]*session),
		conns:    make(map[*gatewayConn]struct{}),
		faults:   &faultSet{},

		voiceGrants: make(map[string]VoiceGrant),

		voiceThrottles: make(map[string]*identifyThrottle),
	}
	s.world, err = newWorld(cfg, &s.ids)
	if s.world != nil {
		for _, u := range s.world.voiceBots {
			s.voiceBotIDs = append(s.voiceBotIDs, u.ID)
		}
	}
	if err != nil {
		return nil, err
	}
	s.limiter = newRESTLimiter(cfg.REST)
	s.voice = cfg.Voice
	if s.voice == nil {
		s.voice = StaticVoiceBackend{Endpoint: cfg.Gateway.VoiceEndpoint}
	}
	s.obs.init(cfg.ObservationLimit)
	return s, nil
}

// Start listens on addr ("127.0.0.1:0" in tests) and serves REST, the gateway and the control API
// on it until Close.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("discordtest: server closed")
	}
	if s.ln != nil {
		return errors.New("discordtest: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("discordtest: listen: %w", err)
	}
	s.ln = ln
	s.baseURL = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Serve calls this hook for StateNew from its own goroutine, so once Serve has returned
		// no Add can race with Close's Wait.
		ConnState: func(_ net.Conn, state http.ConnState) {
			switch state {
			case http.StateNew:
				s.httpWG.Add(1)
			case http.StateHijacked, http.StateClosed:
				s.httpWG.Done()
			}
		},
	}
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.httpSrv.Serve(ln) }()
	s.log.Info("discord emulator listening", "url", s.baseURL)
	return nil
}

// URL is the emulator's base URL, "http://127.0.0.1:PORT". REST lives under URL()+"/api".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// GatewayURL is the URL GET /gateway announces: Config.Gateway.URL, or ws://<address>/gateway.
func (s *Server) GatewayURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gatewayURLLocked()
}

func (s *Server) gatewayURLLocked() string {
	if s.cfg.Gateway.URL != "" {
		return s.cfg.Gateway.URL
	}
	return "ws" + strings.TrimPrefix(s.baseURL, "http") + "/gateway"
}

// handler serves the whole emulator: /api/... REST, /gateway WebSocket and /_emulator/... control.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveREST)
	mux.HandleFunc("/api", s.serveREST)
	mux.HandleFunc("/gateway", s.serveGateway)
	mux.HandleFunc("/gateway/", s.serveGateway)
	mux.Handle("/_emulator/", s.controlHandler())
	return mux
}

// Close stops the emulator at once: the listener closes and every gateway connection is dropped
// without a close frame, as when a Discord node dies. It waits for the connections' goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*gatewayConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var err error
	if s.httpSrv != nil {
		err = s.httpSrv.Close()
		<-s.serveErr
		s.httpWG.Wait()
	}
	for _, c := range conns {
		c.abort()
	}
	s.connWG.Wait()
	return err
}

// Shutdown stops the emulator gracefully: it stops accepting, sends op 7 Reconnect to every gateway
// connection, waits until the clients close or ctx ends, then drops what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for c := range s.conns {
		c.enqueue(outFrame{payload: opPayload(opReconnect, nil)})
	}
	s.mu.Unlock()

	var err error
	if s.httpSrv != nil {
		err = s.httpSrv.Shutdown(ctx)
	}
	for s.connCount() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
