// Command discord-emulator runs the Discord emulator of package discordtest as a process, for the
// sandbox and for tests that are not written in Go: REST under /api, the gateway under /gateway
// and the control API under /_emulator/, all on one address.
//
// Usage:
//
//	DISCORD_BOT_TOKEN=... discord-emulator [flags]
//
// The bot token comes from DISCORD_BOT_TOKEN or -token-file; the control token (which enables the
// control API) from DISCORD_EMULATOR_CONTROL_TOKEN or -control-token-file. Tokens are never
// logged. The first line on standard output is the emulator's base URL; logs go to standard error.
// SIGINT or SIGTERM sends op 7 to every gateway client and stops within -shutdown-timeout.
//
// Voice works out of the box: the emulator's voice server (package discordtest/voiceserver: voice
// gateway v8, UDP and DAVE) runs beside it on loopback ports, and VOICE_SERVER_UPDATE announces its
// endpoint, which the "emulator ready" log line reports too. -voice-endpoint announces another
// server instead; -voice-server=false without it announces endpoint null, as Discord does while no
// voice server is allocated.
//
// -voice-token-file (or DISCORD_VOICE_BOT_TOKEN_FILE) names a file of further bot tokens, one a
// line: each is a voice bot of its own (package discordtest, Config.VoiceBots), a bot user that is
// a member of the guild with its own role, for a worker's pool of voice bots.
//
// -privileged-intents turns on the developer portal's switches for the bot (guild_members,
// guild_presences, message_content); without them an identify asking for those intents is closed
// 4014, as Discord does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "discord-emulator:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks errors in the command line or environment.
var errUsage = errors.New("usage")

// options are the command's settings, from flags and environment.
type options struct {
	listen            string
	tokenFile         string
	voiceTokenFile    string
	controlTokenFile  string
	guildID           string
	categoryID        string
	botID             string
	botName           string
	users             string
	heartbeatInterval time.Duration
	resumeWindow      time.Duration
	voiceEndpoint     string
	voiceServer       bool
	gatewayURL        string
	noRateLimits      bool
	privileged        string
	logLevel          string
	shutdownTimeout   time.Duration
}

// run parses the command line, starts the emulator and serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("discord-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", envOr(getenv, "DISCORD_EMULATOR_LISTEN", "127.0.0.1:0"), "address to listen on (env DISCORD_EMULATOR_LISTEN)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bot token (default: env DISCORD_BOT_TOKEN)")
	fs.StringVar(&o.voiceTokenFile, "voice-token-file", getenv("DISCORD_VOICE_BOT_TOKEN_FILE"), "file holding voice bot tokens, one a line: each a bot user of its own (env DISCORD_VOICE_BOT_TOKEN_FILE)")
	fs.StringVar(&o.controlTokenFile, "control-token-file", "", "file holding the control API token (default: env DISCORD_EMULATOR_CONTROL_TOKEN; none disables the control API)")
	fs.StringVar(&o.guildID, "guild-id", getenv("DISCORD_GUILD_ID"), "ID of the seeded guild (env DISCORD_GUILD_ID; default generated)")
	fs.StringVar(&o.categoryID, "category-id", getenv("DISCORD_CATEGORY_ID"), "ID of the seeded rooms category (env DISCORD_CATEGORY_ID; default generated)")
	fs.StringVar(&o.botID, "bot-id", "", "the bot's user ID (default generated)")
	fs.StringVar(&o.botName, "bot-name", "Spell Coven", "the bot's username")
	fs.StringVar(&o.users, "users", "", "emulated users to seed: comma-separated username[:global name]")
	fs.DurationVar(&o.heartbeatInterval, "heartbeat-interval", 41250*time.Millisecond, "gateway heartbeat interval")
	fs.DurationVar(&o.resumeWindow, "resume-window", 2*time.Minute, "how long a dropped session stays resumable")
	fs.StringVar(&o.voiceEndpoint, "voice-endpoint", "", "host:port announced in VOICE_SERVER_UPDATE instead of the emulator's own voice server")
	fs.BoolVar(&o.voiceServer, "voice-server", true, "serve the emulator's voice server and announce it (false without -voice-endpoint: endpoint null)")
	fs.StringVar(&o.gatewayURL, "gateway-url", "", "gateway URL to announce, when behind a proxy (default ws://<listen address>/gateway)")
	fs.BoolVar(&o.noRateLimits, "no-rate-limits", false, "turn off REST rate limits")
	fs.StringVar(&o.privileged, "privileged-intents", "", "privileged intents enabled for the bot, as in the developer portal: comma-separated guild_members, guild_presences, message_content")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long a graceful stop waits for clients")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}

	cfg, err := o.config(getenv, stderr)
	if err != nil {
		return err
	}
	log := cfg.Logger
	voiceEndpoint := o.voiceEndpoint
	if voiceEndpoint == "" && o.voiceServer {
		vs, err := voiceserver.New(voiceserver.Config{Logger: log})
		if err != nil {
			return err
		}
		if err := vs.Start(); err != nil {
			return err
		}
		defer vs.Close()
		cfg.Voice = vs
		voiceEndpoint = vs.Endpoint()
	}
	srv, err := discordtest.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := srv.Start(o.listen); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, srv.URL()); err != nil {
		_ = srv.Close()
		return err
	}
	g := srv.Guilds()[0]
	log.Info("emulator ready", "url", srv.URL(), "gateway", srv.GatewayURL(), "voice", voiceEndpoint, "guild", g.ID,
		"rooms_category", g.RoomsCategoryID, "bot", srv.Bot().ID, "control_api", cfg.ControlToken != "")

	<-ctx.Done()
	log.Info("stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("stopped")
	return nil
}

// config turns the options into an emulator configuration.
func (o options) config(getenv func(string) string, stderr io.Writer) (discordtest.Config, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return discordtest.Config{}, fmt.Errorf("%w: -log-level %q: want debug, info, warn or error", errUsage, o.logLevel)
	}
	token, err := secret(o.tokenFile, getenv("DISCORD_BOT_TOKEN"), "bot token", "-token-file or DISCORD_BOT_TOKEN")
	if err != nil {
		return discordtest.Config{}, err
	}
	if token == "" {
		return discordtest.Config{}, fmt.Errorf("%w: a bot token is required (-token-file or DISCORD_BOT_TOKEN)", errUsage)
	}
	control, err := secret(o.controlTokenFile, getenv("DISCORD_EMULATOR_CONTROL_TOKEN"), "control token", "-control-token-file or DISCORD_EMULATOR_CONTROL_TOKEN")
	if err != nil {
		return discordtest.Config{}, err
	}
	voiceBots, err := voiceBotTokens(o.voiceTokenFile)
	if err != nil {
		return discordtest.Config{}, err
	}
	users, err := parseUsers(o.users)
	if err != nil {
		return discordtest.Config{}, err
	}
	privileged, err := parsePrivilegedIntents(o.privileged)
	if err != nil {
		return discordtest.Config{}, err
	}
	cfg := discordtest.Config{
		BotTokens:    []string{token},
		ControlToken: control,
		Bot:          discordtest.User{ID: o.botID, Username: o.botName},
		VoiceBots:    voiceBots,
		Guilds:       []discordtest.GuildConfig{{ID: o.guildID, RoomsCategoryID: o.categoryID}},
		Users:        users,
		REST:         discordtest.RESTConfig{RateLimitsDisabled: o.noRateLimits},
		Gateway: discordtest.GatewayConfig{
			HeartbeatInterval: o.heartbeatInterval,
			ResumeWindow:      o.resumeWindow,
			VoiceEndpoint:     o.voiceEndpoint,
			URL:               o.gatewayURL,
			PrivilegedIntents: privileged,
		},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	return cfg, nil
}

// secret reads a token from a file, or else takes it from the environment. Errors never include
// the token.
func secret(file, env, what, where string) (string, error) {
	if file == "" {
		return strings.TrimSpace(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: reading the %s file: %v", errUsage, what, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%w: the %s file is empty (%s)", errUsage, what, where)
	}
	return token, nil
}

// voiceBotTokens reads a file of voice bot tokens, one a line; errors never include a token.
func voiceBotTokens(file string) ([]discordtest.VoiceBotConfig, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the voice bot token file: %v", errUsage, err)
	}
	text := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if text == "" {
		return nil, fmt.Errorf("%w: the voice bot token file is empty (-voice-token-file)", errUsage)
	}
	var out []discordtest.VoiceBotConfig
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			return nil, fmt.Errorf("%w: line %d of the voice bot token file is empty", errUsage, i+1)
		}
		out = append(out, discordtest.VoiceBotConfig{Token: strings.TrimSpace(line)})
	}
	return out, nil
}

// parseUsers reads "alice:Alice,bob" into users.
func parseUsers(spec string) ([]discordtest.User, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var users []discordtest.User
	for _, item := range strings.Split(spec, ",") {
		name, global, _ := strings.Cut(strings.TrimSpace(item), ":")
		if name == "" {
			return nil, fmt.Errorf("%w: -users: empty username in %q", errUsage, spec)
		}
		users = append(users, discordtest.User{Username: name, GlobalName: global})
	}
	return users, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// parsePrivilegedIntents reads -privileged-intents: the names of the developer portal's three switches.
func parsePrivilegedIntents(list string) (discordtest.Intents, error) {
	names := map[string]discordtest.Intents{
		"guild_members":   discordtest.IntentGuildMembers,
		"guild_presences": discordtest.IntentGuildPresences,
		"message_content": discordtest.IntentMessageContent,
	}
	var out discordtest.Intents
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		intent, ok := names[name]
		if !ok {
			return 0, fmt.Errorf("%w: -privileged-intents: %q is not one of guild_members, guild_presences, message_content", errUsage, name)
		}
		out |= intent
	}
	return out, nil
}
