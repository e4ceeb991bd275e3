package worker

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/deadletter"
	"github.com/spellcoven/gateway/worker/delivery"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/outbox"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// Config is the worker's configuration. Load reads it from flags and the environment; every field
// has a flag, an environment variable and, except the identities and secrets, a default.
type Config struct {
	// Token is the bot token (secret). TokenFile, if set instead, is a file holding it.
	Token, TokenFile string
	// GuildID is the guild the worker watches; CategoryID the category whose voice channels are rooms.
	GuildID, CategoryID string
	// EdgeURL is the edge's webhook ingest, e.g. https://app.example.com/internal/events.
	EdgeURL string
	// WebhookSecret signs deliveries (secret). WebhookSecretFile, if set instead, holds it.
	WebhookSecret, WebhookSecretFile string
	// WebhookScheme is "coven" (X-Coven-Signature, the default) or "standard" (Standard Webhooks).
	WebhookScheme string
	// OutboxDir holds the outbox; DeadLetterDir the dead-letter store (default OutboxDir/deadletter).
	OutboxDir, DeadLetterDir string
	// Listen is the address of /healthz, /readyz and /metrics.
	Listen string
	// DiscordAPI replaces https://discord.com for the emulator or the sandbox; empty means Discord.
	DiscordAPI string
	// LogLevel is debug, info, warn or error.
	LogLevel string

	// Delivery limits: see delivery.Config.
	MaxBatchEvents  int
	MaxBatchBytes   int64
	DeliveryTimeout time.Duration
	BackoffInitial  time.Duration
	BackoffMax      time.Duration
	Keepalive       time.Duration
	// EdgeStaleAfter is how long without a 2xx from the edge before /readyz fails.
	EdgeStaleAfter time.Duration

	// Outbox limits: see outbox.Options. MaxDeadLetters bounds the dead-letter store.
	MaxPendingEvents int
	MaxPendingBytes  int64
	SegmentBytes     int64
	MaxDeadLetters   int

	// Gateway timings: see discordgw.Config.
	GatewayOpenTimeout time.Duration
	ReconnectInitial   time.Duration
	ReconnectMax       time.Duration
	// InvalidSessionWaitMin..Max is the random wait before identifying again after an invalid
	// session or a rate-limit close; IdentifyInterval the least time between two identifies.
	InvalidSessionWaitMin, InvalidSessionWaitMax time.Duration
	IdentifyInterval                             time.Duration
	// GatewayResumeMaxAge is how old a gateway session saved by an earlier run may be for a
	// start to resume it (0: never resume after a restart).
	GatewayResumeMaxAge time.Duration

	// ShutdownTimeout bounds a graceful stop: the last deliveries after SIGTERM.
	ShutdownTimeout time.Duration

	// Voice (package voicectl). VoiceMediaDir holds the Ogg Opus files the bot may play and
	// VoiceRecordingsDir receives recordings; empty turns either off. VoiceGatewayScheme is
	// the voice gateway's URL scheme: wss, or ws for the emulator.
	VoiceMediaDir, VoiceRecordingsDir string
	VoiceGatewayScheme                string
	// VoiceTransportOnly turns end-to-end encryption (DAVE) off in voice calls, for stage
	// channels: Discord refuses it in other channels (4017).
	VoiceTransportOnly bool
	// Voice limits: see voicectl.Config, voicectl.HandlerConfig and voice.Config.
	VoiceJoinTimeout       time.Duration
	VoiceHandshakeTimeout  time.Duration
	VoiceMaxRecordingBytes int64
	VoiceMaxRequestBytes   int64
	VoiceMaxRecentRequests int
	// VoiceTokens are the tokens of the voice bots beside the main bot (secrets), read from
	// VoiceTokenFile (one a line) or VoiceTokensList (comma-separated); VoiceMaxBots bounds the
	// voice bots, the main bot included. See voicebots.go.
	VoiceTokens                     []string
	VoiceTokenFile, VoiceTokensList string
	VoiceMaxBots                    int

	// Table view (package relay): TableListen is the IP the media ports bind (empty: table
	// view off); TableUDPPort the one UDP port of every viewer's media, TableTCPPort ICE over
	// TCP (-1: off); TablePublicIPs the addresses browsers reach them at behind a 1:1 NAT
	// (comma-separated). Limits: see relay.Config and voicectl.Config.
	TableListen                string
	TableUDPPort, TableTCPPort int
	TablePublicIPs             string
	TableMaxSessions           int
	TableMaxSessionsPerViewer  int
	TableConnectTimeout        time.Duration
	TableIdleTimeout           time.Duration
	// TableMaxPublishers and TableMaxPublishersPerRoom bound the cameras published from the
	// page (WHIP), in all and per room.
	TableMaxPublishers, TableMaxPublishersPerRoom int
}

// Defaults returns a Config with every default set.
func Defaults() Config {
	return Config{
		WebhookScheme:         string(webhook.SchemeCoven),
		Listen:                "127.0.0.1:9464",
		LogLevel:              "info",
		MaxBatchEvents:        delivery.DefaultMaxBatchEvents,
		MaxBatchBytes:         delivery.DefaultMaxBatchBytes,
		DeliveryTimeout:       delivery.DefaultTimeout,
		BackoffInitial:        delivery.DefaultBackoffInitial,
		BackoffMax:            delivery.DefaultBackoffMax,
		Keepalive:             delivery.DefaultKeepalive,
		EdgeStaleAfter:        2 * time.Minute,
		MaxPendingEvents:      outbox.DefaultMaxPendingEvents,
		MaxPendingBytes:       outbox.DefaultMaxPendingBytes,
		SegmentBytes:          outbox.DefaultSegmentBytes,
		MaxDeadLetters:        deadletter.DefaultMaxLetters,
		GatewayOpenTimeout:    discordgw.DefaultOpenTimeout,
		ReconnectInitial:      discordgw.DefaultReconnectInitial,
		ReconnectMax:          discordgw.DefaultReconnectMax,
		InvalidSessionWaitMin: discordgw.DefaultInvalidSessionWaitMin,
		InvalidSessionWaitMax: discordgw.DefaultInvalidSessionWaitMax,
		IdentifyInterval:      discordgw.DefaultIdentifyInterval,
		GatewayResumeMaxAge:   DefaultGatewayResumeMaxAge,
		ShutdownTimeout:       10 * time.Second,

		VoiceGatewayScheme:        "wss",
		VoiceJoinTimeout:          voicectl.DefaultJoinTimeout,
		VoiceHandshakeTimeout:     10 * time.Second,
		VoiceMaxRecordingBytes:    voicectl.DefaultMaxRecordingBytes,
		VoiceMaxRequestBytes:      voicectl.DefaultMaxRequestBytes,
		VoiceMaxRecentRequests:    voicectl.DefaultMaxRecentRequests,
		VoiceMaxBots:              DefaultVoiceMaxBots,
		TableUDPPort:              DefaultTablePort,
		TableTCPPort:              DefaultTablePort,
		TableMaxSessions:          relay.DefaultMaxSessions,
		TableMaxSessionsPerViewer: relay.DefaultMaxSessionsPerViewer,
		TableConnectTimeout:       relay.DefaultConnectTimeout,
		TableIdleTimeout:          voicectl.DefaultTableIdleTimeout,
		TableMaxPublishers:        relay.DefaultMaxPublishers,
		TableMaxPublishersPerRoom: relay.DefaultMaxPublishersPerRoom,
	}
}

// setting ties a flag to its environment variable.
type setting struct {
	flag, env string
}

// register defines every flag on fs, bound to cfg, and returns the settings in order.
func register(fs *flag.FlagSet, cfg *Config) []setting {
	var out []setting
	str := func(p *string, name, env, usage string) {
		fs.StringVar(p, name, *p, usage)
		out = append(out, setting{name, env})
	}
	num := func(p *int, name, env, usage string) {
		fs.IntVar(p, name, *p, usage)
		out = append(out, setting{name, env})
	}
	num64 := func(p *int64, name, env, usage string) {
		fs.Int64Var(p, name, *p, usage)
		out = append(out, setting{name, env})
	}
	dur := func(p *time.Duration, name, env, usage string) {
		fs.DurationVar(p, name, *p, usage)
		out = append(out, setting{name, env})
	}
	boolean := func(p *bool, name, env, usage string) {
		fs.BoolVar(p, name, *p, usage)
		out = append(out, setting{name, env})
	}
	str(&cfg.Token, "token", "DISCORD_BOT_TOKEN", "bot token (prefer -token-file)")
	str(&cfg.TokenFile, "token-file", "DISCORD_BOT_TOKEN_FILE", "file holding the bot token")
	str(&cfg.GuildID, "guild", "DISCORD_GUILD_ID", "guild id")
	str(&cfg.CategoryID, "category", "DISCORD_CATEGORY_ID", "id of the category whose voice channels are rooms")
	str(&cfg.EdgeURL, "edge-url", "COVEN_EDGE_URL", "URL of the edge's event ingest (https://host/internal/events)")
	str(&cfg.WebhookSecret, "webhook-secret", "COVEN_WEBHOOK_SECRET", "webhook signing secret (prefer -webhook-secret-file)")
	str(&cfg.WebhookSecretFile, "webhook-secret-file", "COVEN_WEBHOOK_SECRET_FILE", "file holding the webhook signing secret")
	str(&cfg.WebhookScheme, "webhook-scheme", "COVEN_WEBHOOK_SCHEME", "signature scheme: coven or standard")
	str(&cfg.OutboxDir, "outbox", "COVEN_WORKER_OUTBOX_DIR", "directory of the durable outbox")
	str(&cfg.DeadLetterDir, "dead-letter-dir", "COVEN_WORKER_DEAD_LETTER_DIR", "directory of the dead-letter store (default <outbox>/deadletter)")
	str(&cfg.Listen, "listen", "COVEN_WORKER_LISTEN", "address of /healthz, /readyz and /metrics")
	str(&cfg.DiscordAPI, "discord-api", "DISCORD_API_URL", "Discord API base URL override (emulator, sandbox)")
	str(&cfg.LogLevel, "log-level", "COVEN_WORKER_LOG_LEVEL", "debug, info, warn or error")
	num(&cfg.MaxBatchEvents, "max-batch-events", "COVEN_WORKER_MAX_BATCH_EVENTS", "most events in one delivery")
	num64(&cfg.MaxBatchBytes, "max-batch-bytes", "COVEN_WORKER_MAX_BATCH_BYTES", "most bytes of events in one delivery")
	dur(&cfg.DeliveryTimeout, "delivery-timeout", "COVEN_WORKER_DELIVERY_TIMEOUT", "bound of one delivery attempt")
	dur(&cfg.BackoffInitial, "backoff-initial", "COVEN_WORKER_BACKOFF_INITIAL", "first delivery retry delay")
	dur(&cfg.BackoffMax, "backoff-max", "COVEN_WORKER_BACKOFF_MAX", "longest delivery retry delay")
	dur(&cfg.Keepalive, "keepalive", "COVEN_WORKER_KEEPALIVE", "empty delivery after this long without one")
	dur(&cfg.EdgeStaleAfter, "edge-stale-after", "COVEN_WORKER_EDGE_STALE_AFTER", "not ready after this long without a delivery accepted")
	num(&cfg.MaxPendingEvents, "max-pending-events", "COVEN_WORKER_MAX_PENDING_EVENTS", "outbox bound: undelivered events")
	num64(&cfg.MaxPendingBytes, "max-pending-bytes", "COVEN_WORKER_MAX_PENDING_BYTES", "outbox bound: bytes of undelivered events")
	num64(&cfg.SegmentBytes, "segment-bytes", "COVEN_WORKER_SEGMENT_BYTES", "outbox segment file size")
	num(&cfg.MaxDeadLetters, "max-dead-letters", "COVEN_WORKER_MAX_DEAD_LETTERS", "most letters in the dead-letter store")
	dur(&cfg.GatewayOpenTimeout, "gateway-open-timeout", "COVEN_WORKER_GATEWAY_OPEN_TIMEOUT", "bound of one gateway connection attempt")
	dur(&cfg.ReconnectInitial, "reconnect-initial", "COVEN_WORKER_RECONNECT_INITIAL", "first gateway reconnection delay")
	dur(&cfg.ReconnectMax, "reconnect-max", "COVEN_WORKER_RECONNECT_MAX", "longest gateway reconnection delay")
	dur(&cfg.InvalidSessionWaitMin, "invalid-session-wait-min", "COVEN_WORKER_INVALID_SESSION_WAIT_MIN", "least wait before identifying again after an invalid session (op 9) or close 4008")
	dur(&cfg.InvalidSessionWaitMax, "invalid-session-wait-max", "COVEN_WORKER_INVALID_SESSION_WAIT_MAX", "longest random wait before identifying again after an invalid session (op 9) or close 4008")
	dur(&cfg.IdentifyInterval, "identify-interval", "COVEN_WORKER_IDENTIFY_INTERVAL", "least time between two identifies (Discord: 5 s)")
	dur(&cfg.GatewayResumeMaxAge, "gateway-resume-max-age", "COVEN_WORKER_GATEWAY_RESUME_MAX_AGE", "a start resumes the gateway session saved by the last run if it is no older than this (0: always identify)")
	dur(&cfg.ShutdownTimeout, "shutdown-timeout", "COVEN_WORKER_SHUTDOWN_TIMEOUT", "bound of the last deliveries on SIGTERM")
	str(&cfg.VoiceMediaDir, "voice-media-dir", "COVEN_WORKER_VOICE_MEDIA_DIR", "directory of the Ogg Opus files the bot may play (empty: playing off)")
	str(&cfg.VoiceRecordingsDir, "voice-recordings-dir", "COVEN_WORKER_VOICE_RECORDINGS_DIR", "directory recordings are written under (empty: recording off)")
	str(&cfg.VoiceGatewayScheme, "voice-gateway-scheme", "COVEN_WORKER_VOICE_GATEWAY_SCHEME", "voice gateway URL scheme: wss, or ws for the emulator")
	boolean(&cfg.VoiceTransportOnly, "voice-transport-only", "COVEN_WORKER_VOICE_TRANSPORT_ONLY", "voice without end-to-end encryption (DAVE), for stage channels only")
	dur(&cfg.VoiceJoinTimeout, "voice-join-timeout", "COVEN_WORKER_VOICE_JOIN_TIMEOUT", "bound of the wait for Discord's answer to a voice join")
	dur(&cfg.VoiceHandshakeTimeout, "voice-handshake-timeout", "COVEN_WORKER_VOICE_HANDSHAKE_TIMEOUT", "bound of one voice gateway handshake")
	num64(&cfg.VoiceMaxRecordingBytes, "voice-max-recording-bytes", "COVEN_WORKER_VOICE_MAX_RECORDING_BYTES", "most media bytes in one recording")
	num64(&cfg.VoiceMaxRequestBytes, "voice-max-request-bytes", "COVEN_WORKER_VOICE_MAX_REQUEST_BYTES", "largest body of a voice control request")
	num(&cfg.VoiceMaxRecentRequests, "voice-max-recent-requests", "COVEN_WORKER_VOICE_MAX_RECENT_REQUESTS", "voice control request ids remembered against replays")
	str(&cfg.VoiceTokenFile, "voice-token-file", "DISCORD_VOICE_BOT_TOKEN_FILE", "file holding the tokens of more voice bots, one a line: each relays one more room at once")
	str(&cfg.VoiceTokensList, "voice-tokens", "DISCORD_VOICE_BOT_TOKENS", "tokens of more voice bots, comma-separated (prefer -voice-token-file)")
	num(&cfg.VoiceMaxBots, "voice-max-bots", "COVEN_WORKER_VOICE_MAX_BOTS", "most voice bots, the main bot included")
	str(&cfg.TableListen, "table-listen", "COVEN_WORKER_TABLE_LISTEN", "IP the table view's media ports bind, such as 0.0.0.0 (empty: table view off)")
	num(&cfg.TableUDPPort, "table-udp-port", "COVEN_WORKER_TABLE_UDP_PORT", "the one UDP port of every viewer's media (0: any)")
	num(&cfg.TableTCPPort, "table-tcp-port", "COVEN_WORKER_TABLE_TCP_PORT", "TCP port of ICE over TCP, for networks that block UDP (-1: off, 0: any)")
	str(&cfg.TablePublicIPs, "table-public-ip", "COVEN_WORKER_TABLE_PUBLIC_IP", "addresses browsers reach the media ports at, behind a 1:1 NAT (comma-separated)")
	num(&cfg.TableMaxSessions, "table-max-sessions", "COVEN_WORKER_TABLE_MAX_SESSIONS", "most viewing sessions at once")
	num(&cfg.TableMaxSessionsPerViewer, "table-max-sessions-per-viewer", "COVEN_WORKER_TABLE_MAX_SESSIONS_PER_VIEWER", "most viewing sessions of one viewer")
	num(&cfg.TableMaxPublishers, "table-max-publishers", "COVEN_WORKER_TABLE_MAX_PUBLISHERS", "most cameras published from the page (WHIP) at once")
	num(&cfg.TableMaxPublishersPerRoom, "table-max-publishers-per-room", "COVEN_WORKER_TABLE_MAX_PUBLISHERS_PER_ROOM", "most cameras published from the page into one room")
	dur(&cfg.TableConnectTimeout, "table-connect-timeout", "COVEN_WORKER_TABLE_CONNECT_TIMEOUT", "a viewing session not connected within this is closed")
	dur(&cfg.TableIdleTimeout, "table-idle-timeout", "COVEN_WORKER_TABLE_IDLE_TIMEOUT", "a room joined for viewers is left this long after its last viewer")
	return out
}

// Usage writes the flags, their environment variables and defaults to w.
func Usage(w io.Writer) {
	cfg := Defaults()
	fs := flag.NewFlagSet("coven-worker", flag.ContinueOnError)
	settings := register(fs, &cfg)
	fmt.Fprintln(w, "Usage: coven-worker [flags]\n       coven-worker deadletter list|replay [-outbox DIR] [-dead-letter-dir DIR] [ID...]\n       coven-worker voice join|leave|play|record|status ... (coven-worker voice -h)\n\nFlags (each also read from the environment variable shown):")
	for _, s := range settings {
		f := fs.Lookup(s.flag)
		def := ""
		if f.DefValue != "" && f.DefValue != "0" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  -%s  $%s\n    \t%s%s\n", s.flag, s.env, f.Usage, def)
	}
}

// Load reads the configuration from args (flags, without the program name) and getenv, flags
// winning over the environment, reads the token and secret files, and validates the result.
// Errors name the setting (flag and environment variable) and never quote a secret.
func Load(args []string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	fs := flag.NewFlagSet("coven-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	settings := register(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	for _, s := range settings {
		if onCommandLine[s.flag] {
			continue
		}
		if v := getenv(s.env); v != "" {
			if err := fs.Set(s.flag, v); err != nil {
				return Config{}, fmt.Errorf("$%s: invalid value for -%s", s.env, s.flag)
			}
		}
	}
	var err error
	if cfg.Token, err = secretValue(cfg.Token, cfg.TokenFile, "token", "DISCORD_BOT_TOKEN"); err != nil {
		return Config{}, err
	}
	if cfg.WebhookSecret, err = secretValue(cfg.WebhookSecret, cfg.WebhookSecretFile, "webhook-secret", "COVEN_WEBHOOK_SECRET"); err != nil {
		return Config{}, err
	}
	if cfg.VoiceTokens, err = voiceTokens(cfg.VoiceTokensList, cfg.VoiceTokenFile); err != nil {
		return Config{}, err
	}
	if cfg.DeadLetterDir == "" && cfg.OutboxDir != "" {
		cfg.DeadLetterDir = filepath.Join(cfg.OutboxDir, "deadletter")
	}
	return cfg, cfg.Validate()
}

// secretValue returns the secret given directly or read from its file: exactly one must be set.
// A file's trailing line break is removed.
func secretValue(direct, file, name, env string) (string, error) {
	switch {
	case direct != "" && file != "":
		return "", fmt.Errorf("-%s ($%s) and -%s-file ($%s_FILE): set one, not both", name, env, name, env)
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("-%s-file ($%s_FILE): %v", name, env, err)
		}
		v := strings.TrimRight(string(raw), "\r\n")
		if v == "" {
			return "", fmt.Errorf("-%s-file ($%s_FILE): %s is empty", name, env, file)
		}
		return v, nil
	case direct == "":
		return "", fmt.Errorf("-%s ($%s) or -%s-file ($%s_FILE): required", name, env, name, env)
	}
	return direct, nil
}

// Validate checks every field; the error names the first bad setting.
func (c Config) Validate() error {
	bad := func(flagName, env, format string, args ...any) error {
		return fmt.Errorf("-%s ($%s): %s", flagName, env, fmt.Sprintf(format, args...))
	}
	if strings.ContainsAny(c.Token, " \t\r\n") {
		return bad("token", "DISCORD_BOT_TOKEN", "contains white space")
	}
	if err := c.validateVoiceTokens(); err != nil {
		return err
	}
	if !event.ValidSnowflake(c.GuildID) {
		return bad("guild", "DISCORD_GUILD_ID", "required: a Discord snowflake (decimal digits)")
	}
	if !event.ValidSnowflake(c.CategoryID) {
		return bad("category", "DISCORD_CATEGORY_ID", "required: a Discord snowflake (decimal digits)")
	}
	if u, err := url.Parse(c.EdgeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("edge-url", "COVEN_EDGE_URL", "required: an http or https URL such as https://app.example.com/internal/events")
	}
	scheme, err := webhook.ParseScheme(c.WebhookScheme)
	if err != nil {
		return bad("webhook-scheme", "COVEN_WEBHOOK_SCHEME", "must be coven or standard")
	}
	if _, err := webhook.NewSigner(scheme, c.WebhookSecret); err != nil {
		// The signer's errors describe the secret's shape, never its content.
		return bad("webhook-secret", "COVEN_WEBHOOK_SECRET", "%s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	if c.OutboxDir == "" {
		return bad("outbox", "COVEN_WORKER_OUTBOX_DIR", "required: a directory for the outbox")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "COVEN_WORKER_LISTEN", "must be host:port, such as 127.0.0.1:9464")
	}
	if c.DiscordAPI != "" {
		if u, err := url.Parse(c.DiscordAPI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return bad("discord-api", "DISCORD_API_URL", "must be an http or https URL without query")
		}
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		return bad("log-level", "COVEN_WORKER_LOG_LEVEL", "must be debug, info, warn or error")
	}
	for _, d := range []struct{ flag, env, path string }{
		{"voice-media-dir", "COVEN_WORKER_VOICE_MEDIA_DIR", c.VoiceMediaDir},
		{"voice-recordings-dir", "COVEN_WORKER_VOICE_RECORDINGS_DIR", c.VoiceRecordingsDir},
	} {
		if d.path == "" {
			continue
		}
		if fi, err := os.Stat(d.path); err != nil || !fi.IsDir() {
			return bad(d.flag, d.env, "%s is not a directory", d.path)
		}
	}
	if c.TableListen != "" && net.ParseIP(c.TableListen) == nil {
		return bad("table-listen", "COVEN_WORKER_TABLE_LISTEN", "must be an IP address, such as 0.0.0.0")
	}
	for _, ip := range c.tablePublicIPs() {
		if net.ParseIP(ip) == nil {
			return bad("table-public-ip", "COVEN_WORKER_TABLE_PUBLIC_IP", "%q is not an IP address", ip)
		}
	}
	if c.VoiceGatewayScheme != "wss" && c.VoiceGatewayScheme != "ws" {
		return bad("voice-gateway-scheme", "COVEN_WORKER_VOICE_GATEWAY_SCHEME", "must be wss, or ws for the emulator")
	}
	ints := []struct {
		flag, env string
		v, lo, hi int64
	}{
		{"max-batch-events", "COVEN_WORKER_MAX_BATCH_EVENTS", int64(c.MaxBatchEvents), 1, event.DefaultMaxBatchEvents},
		{"max-batch-bytes", "COVEN_WORKER_MAX_BATCH_BYTES", c.MaxBatchBytes, 1 << 10, 64 << 20},
		{"max-pending-events", "COVEN_WORKER_MAX_PENDING_EVENTS", int64(c.MaxPendingEvents), 10, 100_000_000},
		{"max-pending-bytes", "COVEN_WORKER_MAX_PENDING_BYTES", c.MaxPendingBytes, 64 << 10, 1 << 40},
		{"segment-bytes", "COVEN_WORKER_SEGMENT_BYTES", c.SegmentBytes, 4 << 10, 1 << 30},
		{"max-dead-letters", "COVEN_WORKER_MAX_DEAD_LETTERS", int64(c.MaxDeadLetters), 1, 10_000_000},
		{"voice-max-recording-bytes", "COVEN_WORKER_VOICE_MAX_RECORDING_BYTES", c.VoiceMaxRecordingBytes, 1 << 10, 1 << 40},
		{"voice-max-request-bytes", "COVEN_WORKER_VOICE_MAX_REQUEST_BYTES", c.VoiceMaxRequestBytes, 256, 1 << 20},
		{"voice-max-recent-requests", "COVEN_WORKER_VOICE_MAX_RECENT_REQUESTS", int64(c.VoiceMaxRecentRequests), 1, 10_000_000},
		{"voice-max-bots", "COVEN_WORKER_VOICE_MAX_BOTS", int64(c.VoiceMaxBots), 1, 100},
		{"table-udp-port", "COVEN_WORKER_TABLE_UDP_PORT", int64(c.TableUDPPort), 0, 65535},
		{"table-tcp-port", "COVEN_WORKER_TABLE_TCP_PORT", int64(c.TableTCPPort), -1, 65535},
		{"table-max-sessions", "COVEN_WORKER_TABLE_MAX_SESSIONS", int64(c.TableMaxSessions), 1, 100_000},
		{"table-max-sessions-per-viewer", "COVEN_WORKER_TABLE_MAX_SESSIONS_PER_VIEWER", int64(c.TableMaxSessionsPerViewer), 1, 10_000},
		{"table-max-publishers", "COVEN_WORKER_TABLE_MAX_PUBLISHERS", int64(c.TableMaxPublishers), 1, 10_000},
		{"table-max-publishers-per-room", "COVEN_WORKER_TABLE_MAX_PUBLISHERS_PER_ROOM", int64(c.TableMaxPublishersPerRoom), 1, 1_000},
	}
	for _, n := range ints {
		if n.v < n.lo || n.v > n.hi {
			return bad(n.flag, n.env, "must be between %d and %d", n.lo, n.hi)
		}
	}
	durations := []struct {
		flag, env string
		v, lo, hi time.Duration
	}{
		{"delivery-timeout", "COVEN_WORKER_DELIVERY_TIMEOUT", c.DeliveryTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"backoff-initial", "COVEN_WORKER_BACKOFF_INITIAL", c.BackoffInitial, time.Millisecond, time.Hour},
		{"backoff-max", "COVEN_WORKER_BACKOFF_MAX", c.BackoffMax, c.BackoffInitial, time.Hour},
		{"keepalive", "COVEN_WORKER_KEEPALIVE", c.Keepalive, 10 * time.Millisecond, 10 * time.Minute},
		{"edge-stale-after", "COVEN_WORKER_EDGE_STALE_AFTER", c.EdgeStaleAfter, c.Keepalive, 24 * time.Hour},
		{"gateway-open-timeout", "COVEN_WORKER_GATEWAY_OPEN_TIMEOUT", c.GatewayOpenTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"reconnect-initial", "COVEN_WORKER_RECONNECT_INITIAL", c.ReconnectInitial, time.Millisecond, time.Hour},
		{"reconnect-max", "COVEN_WORKER_RECONNECT_MAX", c.ReconnectMax, c.ReconnectInitial, time.Hour},
		{"invalid-session-wait-min", "COVEN_WORKER_INVALID_SESSION_WAIT_MIN", c.InvalidSessionWaitMin, 0, time.Minute},
		{"invalid-session-wait-max", "COVEN_WORKER_INVALID_SESSION_WAIT_MAX", c.InvalidSessionWaitMax, c.InvalidSessionWaitMin, time.Minute},
		{"identify-interval", "COVEN_WORKER_IDENTIFY_INTERVAL", c.IdentifyInterval, 0, time.Minute},
		{"gateway-resume-max-age", "COVEN_WORKER_GATEWAY_RESUME_MAX_AGE", c.GatewayResumeMaxAge, 0, time.Hour},
		{"shutdown-timeout", "COVEN_WORKER_SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 0, 10 * time.Minute},
		{"voice-join-timeout", "COVEN_WORKER_VOICE_JOIN_TIMEOUT", c.VoiceJoinTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"voice-handshake-timeout", "COVEN_WORKER_VOICE_HANDSHAKE_TIMEOUT", c.VoiceHandshakeTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"table-connect-timeout", "COVEN_WORKER_TABLE_CONNECT_TIMEOUT", c.TableConnectTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"table-idle-timeout", "COVEN_WORKER_TABLE_IDLE_TIMEOUT", c.TableIdleTimeout, 10 * time.Millisecond, 24 * time.Hour},
	}
	for _, d := range durations {
		if d.v < d.lo || d.v > d.hi {
			return bad(d.flag, d.env, "must be between %v and %v", d.lo, d.hi)
		}
	}
	return nil
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// Level returns the slog level of LogLevel.
func (c Config) Level() slog.Level { return logLevels[c.LogLevel] }

// LogValue describes the configuration for logs, secrets left out.
func (c Config) LogValue() slog.Value {
	redacted := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	return slog.GroupValue(
		slog.String("token", redacted(c.Token)),
		slog.String("guild", c.GuildID),
		slog.String("category", c.CategoryID),
		slog.String("edge_url", c.EdgeURL),
		slog.String("webhook_secret", redacted(c.WebhookSecret)),
		slog.String("webhook_scheme", c.WebhookScheme),
		slog.String("outbox", c.OutboxDir),
		slog.String("dead_letter_dir", c.DeadLetterDir),
		slog.String("listen", c.Listen),
		slog.String("discord_api", c.DiscordAPI),
		slog.Int("max_batch_events", c.MaxBatchEvents),
		slog.Int64("max_batch_bytes", c.MaxBatchBytes),
		slog.Duration("backoff_initial", c.BackoffInitial),
		slog.Duration("backoff_max", c.BackoffMax),
		slog.Duration("keepalive", c.Keepalive),
		slog.Int("max_pending_events", c.MaxPendingEvents),
		slog.Int64("max_pending_bytes", c.MaxPendingBytes),
		slog.String("voice_media_dir", c.VoiceMediaDir),
		slog.String("voice_recordings_dir", c.VoiceRecordingsDir),
		slog.String("voice_gateway_scheme", c.VoiceGatewayScheme),
		slog.Int("voice_bots", 1+len(c.VoiceTokens)),
	)
}

// String describes the configuration without its secrets, so a printed Config leaks nothing.
func (c Config) String() string { return c.LogValue().String() }

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// DefaultGatewayResumeMaxAge is how old a saved gateway session may be for a start to resume it.
// Discord does not publish how long a session stays resumable after its connection ends (a resume
// too late is answered op 9, and the worker identifies); a few minutes is what it keeps in practice.
const DefaultGatewayResumeMaxAge = 2 * time.Minute

// DefaultTablePort is the default UDP and TCP port of table view's media.
const DefaultTablePort = 8189

// tablePublicIPs splits TablePublicIPs.
func (c Config) tablePublicIPs() []string {
	var out []string
	for _, ip := range strings.Split(c.TablePublicIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			out = append(out, ip)
		}
	}
	return out
}

// tableConfig is the relay's configuration, nil when table view is off.
func (c Config) tableConfig() *relay.Config {
	if c.TableListen == "" {
		return nil
	}
	return &relay.Config{
		ListenIP: c.TableListen, UDPPort: c.TableUDPPort, TCPPort: c.TableTCPPort,
		PublicIPs: c.tablePublicIPs(), MaxSessions: c.TableMaxSessions,
		MaxSessionsPerViewer: c.TableMaxSessionsPerViewer, ConnectTimeout: c.TableConnectTimeout,
		MaxPublishers: c.TableMaxPublishers, MaxPublishersPerRoom: c.TableMaxPublishersPerRoom,
	}
}
