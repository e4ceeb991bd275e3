// Package discordgw holds the worker's Discord gateway session: discordgo v0.29.0 with the intents
// GUILDS | GUILD_VOICE_STATES, its dispatches handed in order to the worker, and the reconnection
// policy the worker needs rather than discordgo's own.
//
// discordgo reconnects by itself after any read error, with a backoff up to ten minutes, and even
// after close codes that mean it never should (4004 authentication failed, 4010-4014). The session
// therefore turns discordgo's reconnection off and supervises the connection itself: it reopens
// (resuming when it holds a session: its own, or one of an earlier run handed in as Config.Resume;
// see gatePayload) with its own bounded backoff, and stops with a
// [*FatalCloseError] on a fatal close code. Close codes are read from the WebSocket framing of the
// socket discordgo reads (see observedConn), since discordgo reports them only in its logs.
//
// Handlers run in discordgo's reading goroutine (SyncEvents), so dispatches reach the worker in the
// order Discord sent them.
package discordgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	gorilla "github.com/gorilla/websocket"

	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/worker/metrics"
)

// Defaults of Config.
const (
	DefaultOpenTimeout      = 30 * time.Second
	DefaultReconnectInitial = time.Second
	DefaultReconnectMax     = 60 * time.Second
	// Discord: after an invalid session, wait a random 1-5 s before identifying again; at most
	// max_concurrency identifies per 5 s (one session needs one).
	DefaultInvalidSessionWaitMin = time.Second
	DefaultInvalidSessionWaitMax = 5 * time.Second
	DefaultIdentifyInterval      = 5 * time.Second
)

// Intents are the gateway intents the worker asks for: guilds (channels) and voice states.
const Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildVoiceStates

// Config configures a session.
type Config struct {
	// Token is the bot token, with or without the "Bot " prefix.
	Token string
	// APIBase replaces https://discord.com for REST calls (the emulator, the sandbox); empty
	// means Discord. The gateway URL is whatever that API's GET /gateway announces.
	APIBase string
	// OpenTimeout bounds one connection attempt, from the dial to READY or RESUMED (default 30 s).
	OpenTimeout time.Duration
	// Reconnect spaces reconnection attempts after a lost connection (default 1 s doubling to 60 s).
	Reconnect backoff.Policy
	// Logger receives the session's logs. Nil discards.
	Logger *slog.Logger
	// Metrics receives close codes, reconnects, heartbeat latency and dispatch counts. Required.
	Metrics *metrics.Metrics
	// LibraryLogLevel is discordgo's own log level: discordgo.LogError (the zero value),
	// LogWarning..., or -1 for none. discordgo logs through its package-level Logger.
	LibraryLogLevel int
	// Resume is a session of an earlier run to resume (op 6) rather than identify; the zero
	// value identifies. Discord answers op 9 when it cannot be resumed, and the session identifies.
	Resume Position
	// InvalidSessionWaitMin and InvalidSessionWaitMax bound the random wait before identifying
	// again after an invalid session (op 9) or a rate-limit close (4008); default 1-5 s, as
	// Discord documents. Consecutive failures wait at least the Reconnect backoff.
	InvalidSessionWaitMin, InvalidSessionWaitMax time.Duration
	// IdentifyInterval is the least time between two identifies (default 5 s, Discord's
	// max_concurrency window).
	IdentifyInterval time.Duration
}

// Handler receives what the session learns.
type Handler interface {
	// HandleDispatch receives every dispatch as discordgo decoded it (*discordgo.Ready,
	// *discordgo.Resumed, *discordgo.GuildCreate, *discordgo.ChannelCreate, ...), in order, from
	// one goroutine at a time.
	HandleDispatch(typ string, ev any)
	// LinkDown is called when the connection is lost and the session starts reconnecting.
	LinkDown()
}

// FatalCloseError reports a close code after which reconnecting cannot help.
type FatalCloseError struct {
	Code int
}

// fatalCodes are Discord's close codes that mean "do not reconnect", with what the operator must do.
var fatalCodes = map[int]string{
	4004: "authentication failed: the bot token is invalid or was reset",
	4010: "invalid shard",
	4011: "sharding required: the bot is in too many guilds for one session",
	4012: "invalid API version",
	4013: "invalid intents",
	4014: "disallowed intents: enable them for the bot in the developer portal, or ask for fewer",
}

func (e *FatalCloseError) Error() string {
	return fmt.Sprintf("gateway: Discord closed the session with code %d (%s); not reconnecting", e.Code, fatalCodes[e.Code])
}

// Session is the worker's gateway session.
type Session struct {
	cfg Config
	h   Handler
	dg  *discordgo.Session
	log *slog.Logger

	connected    atomic.Bool
	lastClose    atomic.Int64 // close code received on the current attempt, 0 for none
	current      atomic.Pointer[observedConn]
	attemptCtx   atomic.Pointer[context.Context]
	disconnected chan struct{}
	http         *http.Transport

	// posMu guards pos, the session to resume: set by READY, advanced by every dispatch,
	// cleared when Discord says the session is invalid.
	posMu sync.Mutex
	pos   Position
	// grant allows one identify (see gatePayload); lastIdentify is when the last one went out.
	grant        atomic.Bool
	lastIdentify atomic.Int64
	// On the current attempt: invalid is set when Discord sent op 9 (1: not resumable,
	// 2: resumable), established when READY or RESUMED came.
	invalid     atomic.Int32
	established atomic.Bool
	waitReason  atomic.Pointer[waitInfo]
}

// New prepares a session; Run connects it.
func New(cfg Config, h Handler) (*Session, error) {
	if cfg.Token == "" || h == nil || cfg.Metrics == nil {
		return nil, errors.New("gateway: a token, a handler and metrics are required")
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.Reconnect.Initial <= 0 {
		cfg.Reconnect.Initial = DefaultReconnectInitial
	}
	if cfg.Reconnect.Max <= 0 {
		cfg.Reconnect.Max = DefaultReconnectMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InvalidSessionWaitMin <= 0 && cfg.InvalidSessionWaitMax <= 0 {
		cfg.InvalidSessionWaitMin, cfg.InvalidSessionWaitMax = DefaultInvalidSessionWaitMin, DefaultInvalidSessionWaitMax
	}
	if cfg.InvalidSessionWaitMax < cfg.InvalidSessionWaitMin {
		return nil, errors.New("gateway: the invalid session wait's maximum is below its minimum")
	}
	if cfg.IdentifyInterval < 0 {
		return nil, errors.New("gateway: the identify interval cannot be negative")
	}
	token := cfg.Token
	if !strings.HasPrefix(token, "Bot ") {
		token = "Bot " + token
	}
	dg, err := discordgo.New(token)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s := &Session{cfg: cfg, h: h, dg: dg, log: cfg.Logger, disconnected: make(chan struct{}, 1), pos: cfg.Resume}
	cfg.Metrics.SessionStartRemaining.Set(-1)

	s.http = http.DefaultTransport.(*http.Transport).Clone()
	var transport http.RoundTripper = s.http
	if cfg.APIBase != "" {
		base, err := parseAPIBase(cfg.APIBase)
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		transport = apiRewrite{base: base, next: transport}
	}
	dg.Client = &http.Client{Transport: transport, Timeout: cfg.OpenTimeout}
	plain, secure := dialers(cfg.OpenTimeout, s.observe)
	dg.Dialer = &gorilla.Dialer{
		HandshakeTimeout:  cfg.OpenTimeout,
		NetDialContext:    s.abortable(plain),
		NetDialTLSContext: s.abortable(secure),
	}
	dg.Identify.Intents = Intents
	// Set here so that discordgo never writes it later, while gatePayload may read Identify.
	dg.Identify.Token = token
	dg.ShouldReconnectOnError = false
	dg.ShouldReconnectVoiceOnSessionError = false
	dg.StateEnabled = false
	dg.SyncEvents = true
	dg.LogLevel = cfg.LibraryLogLevel
	dg.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) {
		if e.Type == "" {
			return
		}
		cfg.Metrics.DiscordEvents.WithLabelValues(e.Type).Inc()
		pos := s.advance(e)
		if e.Struct == nil {
			return
		}
		if ph, ok := h.(PositionHandler); ok {
			ph.HandleDispatchAt(pos, e.Type, e.Struct)
		} else {
			h.HandleDispatch(e.Type, e.Struct)
		}
	})
	dg.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		select {
		case s.disconnected <- struct{}{}:
		default:
		}
	})
	return s, nil
}

// advance moves the session's position past the dispatch e and returns it.
func (s *Session) advance(e *discordgo.Event) Position {
	s.posMu.Lock()
	defer s.posMu.Unlock()
	switch e.Type {
	case "READY":
		var r struct {
			SessionID string `json:"session_id"`
			ResumeURL string `json:"resume_gateway_url"`
		}
		json.Unmarshal(e.RawData, &r)
		s.pos = Position{SessionID: r.SessionID, ResumeURL: r.ResumeURL}
		s.established.Store(true)
	case "RESUMED":
		s.established.Store(true)
		s.cfg.Metrics.Resumes.Inc()
	}
	if s.pos.SessionID != "" && e.Sequence > 0 {
		s.pos.Seq = e.Sequence
	}
	return s.pos
}

// Position returns the session's position: what a resume would send.
func (s *Session) Position() Position {
	s.posMu.Lock()
	defer s.posMu.Unlock()
	return s.pos
}

// forget drops the session to resume: Discord said it is no longer valid.
func (s *Session) forget() {
	s.posMu.Lock()
	s.pos = Position{}
	s.posMu.Unlock()
}

// Connected reports whether the session is connected to the gateway.
func (s *Session) Connected() bool { return s.connected.Load() }

// ErrNotConnected means the session has no connection to the gateway at the moment.
var ErrNotConnected = errors.New("gateway: not connected to the Discord gateway")

// UpdateVoiceState sends op 4 (Update Voice State): the bot joins channelID in guildID, or
// leaves voice there when channelID is "". Only op 4 goes out (discordgo's
// ChannelVoiceJoinManual): the voice connection itself is package voice's, since discordgo's
// own voice code cannot connect to today's Discord.
func (s *Session) UpdateVoiceState(guildID, channelID string, selfMute, selfDeaf bool) (err error) {
	if !s.connected.Load() {
		return ErrNotConnected
	}
	defer func() {
		// discordgo writes to its socket without checking that it still has one, and drops
		// it when the connection is lost: a loss at this very moment would panic.
		if recover() != nil {
			err = ErrNotConnected
		}
	}()
	return s.dg.ChannelVoiceJoinManual(guildID, channelID, selfMute, selfDeaf)
}

// Run connects and keeps the session connected until ctx ends (it then closes the session and
// returns nil) or Discord closes it with a fatal code (it returns a *FatalCloseError).
//
// An attempt counts as a success only once READY or RESUMED arrived: discordgo's Open also
// succeeds when Discord answered with op 9, and the backoff must keep growing then. Before an
// identify, Run waits what Discord asks (see awaitIdentify).
func (s *Session) Run(ctx context.Context) error {
	failures := 0
	var notBefore time.Time
	for {
		if !s.Position().Resumable() {
			if !s.awaitIdentify(ctx, notBefore) {
				s.shutdown()
				return nil
			}
			s.grant.Store(true)
		}
		s.invalid.Store(0)
		s.established.Store(false)
		err := s.open(ctx)
		if ctx.Err() != nil {
			s.shutdown()
			return nil
		}
		if err == nil {
			s.setConnected(true)
			s.log.Info("gateway: connected")
			select {
			case <-ctx.Done():
				s.shutdown()
				return nil
			case <-s.disconnected:
			}
			s.setConnected(false)
		}
		s.grant.Store(false)
		if code := s.fatalCode(err); code != 0 {
			s.shutdown()
			return &FatalCloseError{Code: code}
		}
		if s.established.Load() {
			failures = 0
		}
		s.h.LinkDown()
		wait := s.cfg.Reconnect.Delay(failures)
		failures++
		notBefore = time.Time{}
		code := s.lastClose.Load()
		args := []any{"attempt", failures}
		switch inv := s.invalid.Load(); {
		case inv != 0:
			s.cfg.Metrics.InvalidSessions.Inc()
			if inv == 1 {
				s.forget()
			}
			wait = max(wait, s.invalidSessionWait())
			notBefore = time.Now().Add(wait)
			args = append(args, "invalid_session", true, "resumable", inv == 2)
		case code == 4008:
			// Rate limited: whatever comes next, not at once.
			wait = max(wait, s.invalidSessionWait())
			notBefore = time.Now().Add(wait)
		case code == 4007 || code == 4009:
			// Invalid seq, session timed out: only a new session helps.
			s.forget()
		}
		args = append(args, "retry_in", wait.Round(time.Millisecond))
		if err != nil {
			args = append(args, "error", err.Error())
		}
		if code != 0 {
			args = append(args, "close_code", code)
		}
		s.log.Warn("gateway: connection lost; reconnecting", args...)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.shutdown()
			return nil
		case <-t.C:
		}
		s.cfg.Metrics.Reconnects.Inc()
	}
}

// open makes one connection attempt, bounded by OpenTimeout and abandoned when ctx ends.
func (s *Session) open(ctx context.Context) error {
	s.lastClose.Store(0)
	select {
	case <-s.disconnected:
	default:
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.OpenTimeout)
	defer cancel()
	s.current.Store(nil)
	s.attemptCtx.Store(&actx)
	// discordgo reads Hello and READY without a deadline: closing the socket ends a stuck attempt.
	stop := context.AfterFunc(actx, func() {
		if c := s.current.Load(); c != nil {
			c.Close()
		}
	})
	err := s.dg.Open()
	if !stop() && err == nil {
		// The attempt timed out just as it succeeded: the socket is closed, the reader notices.
		s.log.Warn("gateway: connection attempt timed out at the last moment")
	}
	return err
}

// abortable makes a dial give up when the current attempt is abandoned, not only at gorilla's
// handshake timeout.
func (s *Session) abortable(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p := s.attemptCtx.Load(); p != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer context.AfterFunc(*p, cancel)()
			defer cancel()
		}
		return dial(ctx, network, addr)
	}
}

// observe wraps a new gateway socket.
func (s *Session) observe(c net.Conn) net.Conn {
	oc := &observedConn{
		Conn: c,
		gate: s.gatePayload,
		onInvalid: func(resumable bool) {
			v := int32(1)
			if resumable {
				v = 2
			}
			s.invalid.Store(v)
			s.log.Info("gateway: Discord says the session is invalid (op 9)", "resumable", resumable)
		},
		onClose: func(code int) {
			s.lastClose.Store(int64(code))
			s.cfg.Metrics.CloseCode(code)
			s.log.Info("gateway: Discord sent a close frame", "code", code)
		},
		onAck: func(rtt time.Duration) { s.cfg.Metrics.HeartbeatLatency.Set(rtt.Seconds()) },
	}
	s.current.Store(oc)
	return oc
}

// fatalCode returns the fatal close code that ended the attempt, if any.
func (s *Session) fatalCode(err error) int {
	var ce *gorilla.CloseError
	if errors.As(err, &ce) {
		if _, fatal := fatalCodes[ce.Code]; fatal {
			return ce.Code
		}
	}
	if code := int(s.lastClose.Load()); fatalCodes[code] != "" {
		return code
	}
	return 0
}

func (s *Session) setConnected(up bool) {
	s.connected.Store(up)
	v := 0.0
	if up {
		v = 1
	}
	s.cfg.Metrics.GatewayConnected.Set(v)
}

// shutdown closes the connection with 1012 rather than 1000, which would end the session: the
// worker persists its position, and its next start resumes the session.
func (s *Session) shutdown() {
	s.setConnected(false)
	if err := s.dg.CloseWithCode(closeServiceRestart); err != nil {
		s.log.Debug("gateway: closing", "error", err.Error())
	}
	s.http.CloseIdleConnections()
}
