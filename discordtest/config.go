package discordtest

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config describes an emulated Discord: who the bot is, which tokens it accepts, the world it starts
// with, and every limit it enforces. The zero value of each field selects Discord's own figure, so
// a test sets only the tokens and what it wants faster (heartbeat interval, resume window).
type Config struct {
	// BotTokens are the bot tokens the emulator accepts, without the "Bot " prefix. At least one
	// is required. They all authenticate the same bot user.
	BotTokens []string

	// Bot is the bot's user. An empty ID gets a fresh snowflake, an empty Username "Spell Coven".
	// Bot is always true.
	Bot User

	// VoiceBots are further bot users, each with a token of its own: a worker's voice bots,
	// which relay one room each (a bot user is in one voice channel per guild). Each is a member
	// of every guild with a managed role of its own (DefaultVoiceBotPermissions), and its op 4 is
	// checked against its own permissions. A voice bot's token opens gateway sessions as that
	// bot, with identify limits of its own, and answers GET /gateway/bot and GET /users/@me;
	// other REST routes answer it 403 (code 20001).
	VoiceBots []VoiceBotConfig

	// Guilds are the guilds the bot is in at start. Empty means one guild named "Spell Coven" with
	// a category "Rooms", a text channel "general" and a voice channel "Lobby".
	Guilds []GuildConfig

	// Users are emulated users, members of every guild from the start. Control methods add more.
	Users []User

	// ControlToken enables the HTTP control API under /_emulator/ and is the bearer token it
	// requires. Empty disables it (the Go control methods always work). It must differ from
	// every bot token, so the bot token alone never reaches the control API.
	ControlToken string

	// ControlAllowedOrigins lists the browser origins (e.g. "https://localhost:8443") allowed to
	// call the control API, for the sandbox's page; "*" allows any. Empty allows none (CORS off).
	ControlAllowedOrigins []string

	// REST holds the REST API's limits.
	REST RESTConfig

	// Gateway holds the gateway's timings and limits.
	Gateway GatewayConfig

	// Voice decides the endpoint and token sent in VOICE_SERVER_UPDATE. Nil means a static
	// backend answering Gateway.VoiceEndpoint with a fresh random token.
	Voice VoiceBackend

	// ObservationLimit is how many entries each observation log keeps: the ops received per
	// session and the REST audit log (default 1024).
	ObservationLimit int

	// OnVoiceState, when set, is told every voice state change as it is dispatched (ChannelID
	// "" when the user left voice): the sandbox makes emulated users' cameras follow it. It is
	// called with the emulator's lock held: it must not block nor call the Server.
	OnVoiceState func(VoiceState)

	// Logger receives the emulator's logs. Nil discards them. Tokens are never logged.
	Logger *slog.Logger
}

// VoiceBotConfig is one more bot user, for voice.
type VoiceBotConfig struct {
	// Token is the bot's token, without the "Bot " prefix. Required, and unlike every other.
	Token string
	// User is the bot's user. An empty ID gets a fresh snowflake, an empty Username
	// "Spell Coven Voice <n>" (n from 1). Bot is always true.
	User User
}

// GuildConfig seeds one guild.
type GuildConfig struct {
	// ID is the guild's snowflake; empty generates one.
	ID string
	// Name is the guild's name; empty means "Spell Coven".
	Name string
	// RoomsCategoryID is the ID of the seeded category that holds rooms; empty generates one.
	RoomsCategoryID string
	// RoomsCategoryName is that category's name; empty means "Rooms".
	RoomsCategoryName string
	// Channels are further channels created at start, after the rooms category. Nil means a text
	// channel "general" and a voice channel "Lobby" under the rooms category; an empty non-nil
	// slice means none.
	Channels []Channel
	// MaxChannels is the most channels the guild may hold (Discord: 500; over it, error 30013).
	MaxChannels int
	// MaxBitrate is the highest voice bitrate accepted, in bit/s (Discord without boosts: 96000).
	MaxBitrate int
}

// RESTConfig holds the REST API's rate limits and request limits.
type RESTConfig struct {
	// RateLimitsDisabled turns off every rate limit and the rate-limit headers.
	RateLimitsDisabled bool
	// GlobalLimit is how many requests a bot may make per GlobalWindow across all routes
	// (Discord: 50 per second).
	GlobalLimit int
	// GlobalWindow is the global limit's window (default 1 s).
	GlobalWindow time.Duration
	// RouteLimit is the bucket size and window of every route without an entry in Routes
	// (default 5 requests per 5 s, a common Discord bucket).
	RouteLimit RouteLimit
	// Routes overrides RouteLimit per route, keyed like "POST /guilds/{guild.id}/channels".
	Routes map[string]RouteLimit
	// ChannelRenameLimit is how many changes of a channel's name or topic Discord allows per
	// window, whatever the route's bucket says (default 2 per 10 minutes); past it, PATCH
	// /channels/{id} answers 429 with scope "shared" and a Retry-After of minutes.
	ChannelRenameLimit RouteLimit
	// InvalidRequestLimit is how many 401, 403 and 429 answers in InvalidRequestWindow get the
	// caller banned, as Cloudflare does in front of Discord (default 10000; negative disables).
	InvalidRequestLimit int
	// InvalidRequestWindow is the window of InvalidRequestLimit (default 10 minutes).
	InvalidRequestWindow time.Duration
	// BanDuration is how long a ban lasts (default 1 hour).
	BanDuration time.Duration
	// MaxBodyBytes is the largest request body accepted (default 1 MiB; over it, 413).
	MaxBodyBytes int64
}

// RouteLimit is a per-route bucket: Requests per Window, keyed by route and major parameter.
type RouteLimit struct {
	Requests int
	Window   time.Duration
}

// GatewayConfig holds the gateway's timings and limits.
type GatewayConfig struct {
	// HeartbeatInterval is sent in op 10 Hello (Discord: 41250 ms; tests use 100-300 ms).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout closes a connection with 4009 when no heartbeat arrived for that long
	// (default twice HeartbeatInterval, since the first heartbeat may wait up to one interval).
	HeartbeatTimeout time.Duration
	// ResumeWindow is how long a session stays resumable after its connection ended without a
	// 1000/1001 close (default 2 minutes).
	ResumeWindow time.Duration
	// ReplayBufferSize is how many dispatches a session keeps for replay on resume (default
	// 4096). A resume from a sequence older than the buffer gets op 9.
	ReplayBufferSize int
	// MaxPayloadBytes is the largest client payload accepted (Discord: 4096; over it, 4002).
	MaxPayloadBytes int
	// SendLimit is how many payloads a client may send per SendWindow on one connection
	// (Discord: 120 per 60 s; over it, 4008).
	SendLimit int
	// SendWindow is SendLimit's window (default 60 s).
	SendWindow time.Duration
	// IdentifyMaxConcurrency is how many identifies are allowed per IdentifyWindow
	// (Discord: max_concurrency, 1 for most bots; over it, op 9 d:false).
	IdentifyMaxConcurrency int
	// IdentifyWindow is the identify throttle's window (Discord: 5 s).
	IdentifyWindow time.Duration
	// SessionStartLimit is how many identifies are allowed per SessionStartReset (Discord: 1000
	// per 24 h). An identify past it resets the bot's token, as Discord does: it is closed with
	// 4004, every session of the bot ends with 4004, and the tokens stop working (REST answers
	// 401) for the emulator's life.
	SessionStartLimit int
	// SessionStartReset is SessionStartLimit's window (default 24 h).
	SessionStartReset time.Duration
	// PrivilegedIntents are the privileged intents enabled for the bot (GUILD_MEMBERS,
	// GUILD_PRESENCES, MESSAGE_CONTENT). Asking for one not enabled closes with 4014.
	PrivilegedIntents Intents
	// OutboundQueue is how many payloads may wait for a slow client before its connection is
	// dropped (default 1024; the session stays resumable).
	OutboundQueue int
	// WriteTimeout bounds one write to a client (default 10 s).
	WriteTimeout time.Duration
	// CloseGrace is how long the gateway waits for the client's answer to its close frame
	// before it drops the TCP connection (default 1 s).
	CloseGrace time.Duration
	// URL overrides the gateway URL announced by GET /gateway and in READY's
	// resume_gateway_url, for an emulator behind a proxy. Empty means ws://<listen address>/gateway.
	URL string
	// VoiceEndpoint is the "host:port" the default voice backend announces in
	// VOICE_SERVER_UPDATE; empty sends endpoint null, as Discord does while no voice server is
	// allocated.
	VoiceEndpoint string
}

// withDefaults returns cfg with every zero field set to its default, or an error naming the first
// field that is out of range.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.BotTokens) == 0 {
		return cfg, errors.New("discordtest: at least one bot token is required")
	}
	seen := make(map[string]bool, len(cfg.BotTokens))
	for i, t := range cfg.BotTokens {
		if t == "" {
			return cfg, fmt.Errorf("discordtest: bot token %d is empty", i)
		}
		seen[t] = true
	}
	for i, vb := range cfg.VoiceBots {
		switch {
		case vb.Token == "":
			return cfg, fmt.Errorf("discordtest: voice bot %d's token is empty", i)
		case seen[vb.Token]:
			return cfg, fmt.Errorf("discordtest: voice bot %d's token is another bot's: each bot user has its own", i)
		}
		seen[vb.Token] = true
	}
	if cfg.ControlToken != "" && seen[cfg.ControlToken] {
		return cfg, errors.New("discordtest: the control token must differ from every bot token")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := defaultInt(&cfg.ObservationLimit, 1024, "ObservationLimit"); err != nil {
		return cfg, err
	}

	r := &cfg.REST
	if err := defaultInt(&r.GlobalLimit, 50, "REST.GlobalLimit"); err != nil {
		return cfg, err
	}
	if err := defaultDuration(&r.GlobalWindow, time.Second, "REST.GlobalWindow"); err != nil {
		return cfg, err
	}
	if err := defaultInt(&r.RouteLimit.Requests, 5, "REST.RouteLimit.Requests"); err != nil {
		return cfg, err
	}
	if err := defaultDuration(&r.RouteLimit.Window, 5*time.Second, "REST.RouteLimit.Window"); err != nil {
		return cfg, err
	}
	if err := defaultInt(&r.ChannelRenameLimit.Requests, 2, "REST.ChannelRenameLimit.Requests"); err != nil {
		return cfg, err
	}
	if err := defaultDuration(&r.ChannelRenameLimit.Window, 10*time.Minute, "REST.ChannelRenameLimit.Window"); err != nil {
		return cfg, err
	}
	for name, rl := range r.Routes {
		if rl.Requests <= 0 || rl.Window <= 0 {
			return cfg, fmt.Errorf("discordtest: REST.Routes[%q] needs positive Requests and Window", name)
		}
	}
	if r.InvalidRequestLimit == 0 {
		r.InvalidRequestLimit = 10000
	}
	if err := defaultDuration(&r.InvalidRequestWindow, 10*time.Minute, "REST.InvalidRequestWindow"); err != nil {
		return cfg, err
	}
	if err := defaultDuration(&r.BanDuration, time.Hour, "REST.BanDuration"); err != nil {
		return cfg, err
	}
	if r.MaxBodyBytes < 0 {
		return cfg, errors.New("discordtest: REST.MaxBodyBytes must not be negative")
	}
	if r.MaxBodyBytes == 0 {
		r.MaxBodyBytes = 1 << 20
	}

	g := &cfg.Gateway
	if err := defaultDuration(&g.HeartbeatInterval, 41250*time.Millisecond, "Gateway.HeartbeatInterval"); err != nil {
		return cfg, err
	}
	if err := defaultDuration(&g.HeartbeatTimeout, 2*g.HeartbeatInterval, "Gateway.HeartbeatTimeout"); err != nil {
		return cfg, err
	}
	if err := defaultDuration(&g.ResumeWindow, 2*time.Minute, "Gateway.ResumeWindow"); err != nil {
		return cfg, err
	}
	ints := []struct {
		v    *int
		def  int
		name string
	}{
		{&g.ReplayBufferSize, 4096, "Gateway.ReplayBufferSize"},
		{&g.MaxPayloadBytes, 4096, "Gateway.MaxPayloadBytes"},
		{&g.SendLimit, 120, "Gateway.SendLimit"},
		{&g.IdentifyMaxConcurrency, 1, "Gateway.IdentifyMaxConcurrency"},
		{&g.SessionStartLimit, 1000, "Gateway.SessionStartLimit"},
		{&g.OutboundQueue, 1024, "Gateway.OutboundQueue"},
	}
	for _, f := range ints {
		if err := defaultInt(f.v, f.def, f.name); err != nil {
			return cfg, err
		}
	}
	durations := []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&g.SendWindow, 60 * time.Second, "Gateway.SendWindow"},
		{&g.IdentifyWindow, 5 * time.Second, "Gateway.IdentifyWindow"},
		{&g.SessionStartReset, 24 * time.Hour, "Gateway.SessionStartReset"},
		{&g.WriteTimeout, 10 * time.Second, "Gateway.WriteTimeout"},
		{&g.CloseGrace, time.Second, "Gateway.CloseGrace"},
	}
	for _, f := range durations {
		if err := defaultDuration(f.v, f.def, f.name); err != nil {
			return cfg, err
		}
	}
	if g.PrivilegedIntents&^privilegedIntents != 0 {
		return cfg, fmt.Errorf("discordtest: Gateway.PrivilegedIntents %d holds intents that are not privileged", g.PrivilegedIntents)
	}
	return cfg, nil
}

func defaultInt(v *int, def int, name string) error {
	if *v < 0 {
		return fmt.Errorf("discordtest: %s must not be negative", name)
	}
	if *v == 0 {
		*v = def
	}
	return nil
}

func defaultDuration(v *time.Duration, def time.Duration, name string) error {
	if *v < 0 {
		return fmt.Errorf("discordtest: %s must not be negative", name)
	}
	if *v == 0 {
		*v = def
	}
	return nil
}
