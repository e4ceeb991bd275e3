// Package covenapp is the Caddy app `coven`: the long-lived state that the Spell Coven HTTP handlers
// share — the event hub (projection, history, fan-out), the JWT verifier, the Discord REST client of
// the rooms API and the metrics.
//
// The state lives in a usage pool keyed by its configuration, so a `caddy reload` that keeps the same
// hub and JWT settings keeps the same hub (and so every connected WebSocket client, its history and its
// projection) and the same warm JWKS cache. A reload that changes them builds new ones; the old hub then
// closes its clients with 1012 so that they reconnect to the new configuration.
package covenapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/caddymodules/internal/placeholder"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker"
	"github.com/spellcoven/gateway/rooms"
	"github.com/spellcoven/gateway/rooms/discordrest"
	"github.com/spellcoven/gateway/rooms/redisstore"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `coven` app. Configure it with the `coven` global option in a Caddyfile.
type App struct {
	// GuildID is the Discord guild (server) whose rooms this edge serves.
	GuildID string `json:"guild_id,omitempty"`
	// CategoryID is the Discord category under which rooms (voice channels) live.
	CategoryID string `json:"category_id,omitempty"`
	// BotToken is the Discord bot token, usually `{env.DISCORD_BOT_TOKEN}`. Placeholders are resolved at
	// provisioning, so the secret itself never appears in the JSON config served by the admin API.
	BotToken string `json:"bot_token,omitempty"`
	// BotTokenFile names a file holding the bot token (for secret mounts); it wins over BotToken.
	BotTokenFile string `json:"bot_token_file,omitempty"`

	// JWT configures verification of users' tokens for `coven_jwt` and `coven_ws`.
	JWT *JWTConfig `json:"jwt,omitempty"`

	// Hub configures the event hub.
	Hub HubConfig `json:"hub,omitempty"`

	// Broker selects how events are sequenced and shared between edge instances (default: memory,
	// one instance).
	Broker *BrokerConfig `json:"broker,omitempty"`

	// MaxBatchEvents bounds the events of one webhook delivery (default 1000).
	MaxBatchEvents int `json:"max_batch_events,omitempty"`

	// Discord configures the Discord REST client that coven_rooms uses with the bot token.
	Discord DiscordConfig `json:"discord,omitempty"`

	botToken   string
	discord    *discordrest.Client
	discordKey string
	state      *sharedState
	stateKey   string
	jwks       *verifierState
	jwksKey    string
	logger     *zap.Logger
	// signatureChecks counts the coven_hmac handlers provisioned so far in this configuration. Caddy
	// provisions a route's handlers in order, so a coven_events provisioned while it is zero has no
	// signature check before it on any route.
	signatureChecks int32 // atomic; App is copied by value in CaddyModule, so not an atomic.Int32
}

// JWTConfig is the JSON form of auth.Config.
type JWTConfig struct {
	JWKSURL         string         `json:"jwks_url,omitempty"`
	Issuer          string         `json:"issuer,omitempty"`
	Audiences       []string       `json:"audiences,omitempty"`
	Algorithms      []string       `json:"algorithms,omitempty"`
	Leeway          caddy.Duration `json:"leeway,omitempty"`
	FetchTimeout    caddy.Duration `json:"fetch_timeout,omitempty"`
	RefreshInterval caddy.Duration `json:"refresh_interval,omitempty"`
	// Types are the accepted typ headers (default any); MaxLifetime bounds exp - iat (default none).
	Types       []string       `json:"types,omitempty"`
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
	// CacheSize is the number of verified tokens remembered so that one presented again is not
	// verified again (default 10000).
	CacheSize int `json:"cache_size,omitempty"`
}

// DiscordConfig is the JSON form of discordrest.Config (the token aside). Zero values select the
// defaults.
type DiscordConfig struct {
	// APIURL is Discord's REST API base (default https://discord.com/api/v10); tests and the sandbox
	// point it at the emulator.
	APIURL string `json:"api_url,omitempty"`
	// GlobalRequests is how many requests may start per second (default 50, Discord's global limit).
	GlobalRequests int `json:"global_requests,omitempty"`
	// InvalidRequests is how many 401/403/429 answers within 10 minutes make the client stop calling
	// Discord until the count falls (default 1000; Discord bans the address at 10,000).
	InvalidRequests int `json:"invalid_requests,omitempty"`
	// BackoffBase and BackoffMax bound the exponential backoff between retries (default 1s to 32s).
	BackoffBase caddy.Duration `json:"backoff_base,omitempty"`
	BackoffMax  caddy.Duration `json:"backoff_max,omitempty"`
}

// HubConfig is the JSON form of hub.Config.
type HubConfig struct {
	// HistorySize is the number of events kept for clients to resume from (default 10000).
	HistorySize int `json:"history_size,omitempty"`
	// QueueLength is the number of frames queued for one client before it is closed as too slow
	// (default 256).
	QueueLength int `json:"queue_length,omitempty"`
	// WriteTimeout is the longest one write to a client may take before it is closed (default 10s).
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "coven",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves placeholders and secrets, and loads or creates the shared state. It does no
// network I/O: `caddy validate` provisions too.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	var err error
	if a.GuildID, err = placeholder.Resolve(repl, "guild", a.GuildID); err != nil {
		return fmt.Errorf("coven: %w", err)
	}
	if a.CategoryID, err = placeholder.Resolve(repl, "category", a.CategoryID); err != nil {
		return fmt.Errorf("coven: %w", err)
	}
	token, err := a.resolveBotToken(repl)
	if err != nil {
		return err
	}
	a.botToken = token
	if a.MaxBatchEvents == 0 {
		a.MaxBatchEvents = event.DefaultMaxBatchEvents
	}

	var jwtCfg *JWTConfig
	if a.JWT != nil {
		c, err := a.JWT.resolved(repl)
		if err != nil {
			return fmt.Errorf("coven: jwt: %w", err)
		}
		jwtCfg = &c
	}
	hubCfg := hub.Config{
		HistorySize:  a.Hub.HistorySize,
		QueueLength:  a.Hub.QueueLength,
		WriteTimeout: time.Duration(a.Hub.WriteTimeout),
	}
	brokerCfg, err := a.Broker.redisConfig(repl, a.Hub.HistorySize)
	if err != nil {
		return fmt.Errorf("coven: %w", err)
	}
	// The key holds the resolved broker settings, so that a reload with the same Redis keeps the hub and
	// its connections; it stays in memory and is never logged. The JWT settings are not in it: they
	// have a lifetime of their own, so that changing them keeps every client connected.
	key, err := json.Marshal(struct {
		Hub    HubConfig
		Broker *redisbroker.Config
	}{a.Hub, brokerCfg})
	if err != nil {
		return err
	}
	a.stateKey = string(key)
	v, _, err := pool.LoadOrNew(a.stateKey, func() (caddy.Destructor, error) {
		return newSharedState(hubCfg, brokerCfg, a.logger)
	})
	if err != nil {
		return fmt.Errorf("coven: %w", err)
	}
	a.state = v.(*sharedState)
	if jwtCfg != nil {
		if err := a.provisionVerifier(*jwtCfg); err != nil {
			return err
		}
	}
	if err := a.provisionDiscord(repl); err != nil {
		return err
	}
	registerMetrics(ctx.GetMetricsRegistry(), a.state, a.discord, a.Verifier())
	return nil
}

func (a *App) resolveBotToken(repl *caddy.Replacer) (string, error) {
	if a.BotTokenFile != "" {
		path, err := placeholder.Resolve(repl, "bot_token_file", a.BotTokenFile)
		if err != nil {
			return "", fmt.Errorf("coven: %w", err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("coven: reading bot_token_file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("coven: bot_token_file %s is empty", path)
	}
	// The raw value is a placeholder or a literal; neither appears in the error, only the variable's name.
	token, err := placeholder.Resolve(repl, "bot_token", a.BotToken)
	if err != nil {
		return "", fmt.Errorf("coven: %w", err)
	}
	return strings.TrimSpace(token), nil
}

// resolved returns c with its placeholders ({env.*}) replaced; one that leaves a written value empty
// is an error naming it.
func (c JWTConfig) resolved(repl *caddy.Replacer) (JWTConfig, error) {
	r := c
	var err error
	if r.JWKSURL, err = placeholder.Resolve(repl, "jwks_url", c.JWKSURL); err != nil {
		return r, err
	}
	if r.Issuer, err = placeholder.Resolve(repl, "issuer", c.Issuer); err != nil {
		return r, err
	}
	if len(c.Audiences) > 0 {
		if r.Audiences, err = placeholder.Fields(repl, "audience", c.Audiences); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (c JWTConfig) authConfig() auth.Config {
	return auth.Config{
		JWKSURL:         c.JWKSURL,
		Issuer:          c.Issuer,
		Audiences:       c.Audiences,
		Algorithms:      c.Algorithms,
		Leeway:          time.Duration(c.Leeway),
		FetchTimeout:    time.Duration(c.FetchTimeout),
		RefreshInterval: time.Duration(c.RefreshInterval),
		Types:           c.Types,
		MaxLifetime:     time.Duration(c.MaxLifetime),
		CacheSize:       c.CacheSize,
	}
}

// Validate checks the configuration. It is read-only.
func (a *App) Validate() error {
	if a.GuildID != "" && !event.ValidSnowflake(a.GuildID) {
		return fmt.Errorf("coven: guild %q is not a Discord snowflake", a.GuildID)
	}
	if a.CategoryID != "" && !event.ValidSnowflake(a.CategoryID) {
		return fmt.Errorf("coven: category %q is not a Discord snowflake", a.CategoryID)
	}
	if a.MaxBatchEvents < 0 {
		return fmt.Errorf("coven: max_batch_events must not be negative")
	}
	if err := a.Broker.validate(); err != nil {
		return fmt.Errorf("coven: %w", err)
	}
	if a.Discord.GlobalRequests < 0 || a.Discord.InvalidRequests < 0 || a.Discord.BackoffBase < 0 || a.Discord.BackoffMax < 0 {
		return fmt.Errorf("coven: discord_limits must not be negative")
	}
	return nil
}

// Start starts the shared state's background work (hub workers, JWKS refresh). Starting state that a
// previous configuration already started is a no-op.
func (a *App) Start() error {
	if err := a.state.start(); err != nil {
		return err
	}
	if a.jwks != nil {
		if err := a.jwks.start(); err != nil {
			return err
		}
		current.Store(a.jwks.v)
	}
	return nil
}

// Stop does nothing: the shared state outlives a configuration and ends in Cleanup when no
// configuration uses it any more.
func (a *App) Stop() error { return nil }

// Cleanup releases this configuration's hold on the shared state.
func (a *App) Cleanup() error {
	if a.discordKey != "" {
		if _, err := pool.Delete(a.discordKey); err != nil {
			return err
		}
	}
	if a.jwksKey != "" {
		if _, err := pool.Delete(a.jwksKey); err != nil {
			return err
		}
	}
	if a.stateKey == "" {
		return nil
	}
	_, err := pool.Delete(a.stateKey)
	return err
}

// EventHub returns the event hub.
func (a *App) EventHub() *hub.Hub { return a.state.hub }

// Verifier returns the JWT verifier, or nil when the app has no `jwt` configuration.
func (a *App) Verifier() *auth.Verifier {
	if a.jwks == nil {
		return nil
	}
	return a.jwks.v
}

// current is the verifier of the configuration that started last: the one sessions opened under an
// earlier configuration re-authenticate with, so that a reload that changes the JWT settings applies
// them to every client without disconnecting any.
var current atomic.Pointer[auth.Verifier]

// CurrentVerifier returns the JWT verifier of the running configuration, or nil before one with a
// `jwt` block has started.
func CurrentVerifier() *auth.Verifier { return current.Load() }

// DiscordBotToken returns the resolved Discord bot token. It must never be logged.
func (a *App) DiscordBotToken() string { return a.botToken }

// SharedRoomsStore is where the rooms API keeps what edge instances must agree on (Idempotency-Key
// answers, creations per window): Redis when the broker is Redis, nil for the memory broker (one
// instance: the API keeps them itself).
func (a *App) SharedRoomsStore() rooms.SharedStore {
	if a.state.broker == nil {
		return nil
	}
	return a.state.roomsStore
}

// DiscordREST returns the Discord REST client for the bot token, or nil when no bot token is
// configured. It is shared by every configuration with the same token and settings, so that rate
// limits and the invalid-request count survive reloads.
func (a *App) DiscordREST() *discordrest.Client { return a.discord }

// NoteSignatureCheck records that a coven_hmac handler of this configuration was provisioned.
func (a *App) NoteSignatureCheck() { atomic.AddInt32(&a.signatureChecks, 1) }

// SignatureChecked reports whether a coven_hmac handler of this configuration was provisioned before.
func (a *App) SignatureChecked() bool { return atomic.LoadInt32(&a.signatureChecks) > 0 }

// FromContext returns the `coven` app of the configuration being provisioned, with a clear error
// when the Caddyfile lacks the `coven` global option.
func FromContext(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("coven")
	switch {
	case errors.Is(err, caddy.ErrNotConfigured):
		return nil, errors.New("the `coven` global option (app) is required")
	case err != nil:
		return nil, err // the app's own provisioning error, whichever module loaded it first
	}
	return v.(*App), nil
}

var pool = caddy.NewUsagePool()

// sharedState is what survives reloads.
type sharedState struct {
	hub    *hub.Hub
	broker *redisbroker.Broker // nil for the memory broker
	// roomsStore is the rooms API's shared state, on the broker's Redis (nil without it).
	roomsStore *redisstore.Store
	ctx        context.Context
	cancel     context.CancelFunc
	once       sync.Once
	startErr   error
}

func newSharedState(hcfg hub.Config, brokerCfg *redisbroker.Config, logger *zap.Logger) (*sharedState, error) {
	s := &sharedState{}
	var broker hub.Broker
	if brokerCfg != nil {
		// No I/O here: the broker connects when the hub starts (App.Start).
		b, err := redisbroker.New(*brokerCfg, logger.Named("broker"))
		if err != nil {
			return nil, fmt.Errorf("broker redis: %w", err)
		}
		s.broker, broker = b, b
		s.roomsStore = redisstore.New(b.Client(), b.KeyPrefix())
	}
	h, err := hub.New(hcfg, broker, logger.Named("hub"))
	if err != nil {
		if s.broker != nil {
			s.broker.Close()
		}
		return nil, err
	}
	s.hub = h
	// The state outlives the configuration that created it, so its goroutines hang off their own context.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func (s *sharedState) start() error {
	s.once.Do(func() {
		s.startErr = s.hub.Start(s.ctx)
	})
	return s.startErr
}

// Destruct closes the hub (clients get 1012 and reconnect) and stops background work.
func (s *sharedState) Destruct() error {
	s.cancel()
	err := s.hub.Close()
	if s.broker != nil {
		err = errors.Join(err, s.broker.Close())
	}
	return err
}

// verifierState is the JWT verifier shared by the configurations with the same jwt settings.
type verifierState struct {
	v        *auth.Verifier
	ctx      context.Context
	cancel   context.CancelFunc
	once     sync.Once
	startErr error
}

// provisionVerifier loads or creates the verifier of cfg.
func (a *App) provisionVerifier(cfg JWTConfig) error {
	key, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	a.jwksKey = "jwt:" + string(key)
	v, _, err := pool.LoadOrNew(a.jwksKey, func() (caddy.Destructor, error) {
		ac := cfg.authConfig()
		ac.Logger = a.logger.Named("jwks")
		v, err := auth.New(ac)
		if err != nil {
			return nil, err
		}
		vs := &verifierState{v: v}
		vs.ctx, vs.cancel = context.WithCancel(context.Background())
		return vs, nil
	})
	if err != nil {
		a.jwksKey = ""
		return fmt.Errorf("coven: jwt: %w", err)
	}
	a.jwks = v.(*verifierState)
	return nil
}

func (s *verifierState) start() error {
	s.once.Do(func() { s.startErr = s.v.Start(s.ctx) })
	return s.startErr
}

// Destruct stops the verifier's refreshes.
func (s *verifierState) Destruct() error {
	s.cancel()
	s.v.Stop()
	return nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*sharedState)(nil)
	_ caddy.Destructor   = (*verifierState)(nil)
)
