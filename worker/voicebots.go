package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/metrics"
)

// Voice bots: a Discord bot user is in one voice channel per guild, so each room relayed at once
// needs a bot of its own. The main bot (-token) is the first voice bot; every token of
// -voice-token-file adds one, with a gateway session of its own used only for voice (intents
// GUILDS and GUILD_VOICE_STATES, as the main session). Its dispatches go to its voice
// controller only: events come from the main session alone.

// DefaultVoiceMaxBots is the default of -voice-max-bots: the most voice bots, the main bot
// included. Each is a gateway session, and an identify at each start.
const DefaultVoiceMaxBots = 10

const (
	voiceTokenFileSetting = "-voice-token-file ($DISCORD_VOICE_BOT_TOKEN_FILE)"
	voiceTokensSetting    = "-voice-tokens ($DISCORD_VOICE_BOT_TOKENS)"
)

// voiceTokens reads the voice bots' tokens: from file, one a line (a last line break is
// allowed), or from list, comma-separated. An empty token is an error naming its place; the
// error never quotes a token.
func voiceTokens(list, file string) ([]string, error) {
	var tokens []string
	switch {
	case list != "" && file != "":
		return nil, fmt.Errorf("%s and %s: set one, not both", voiceTokensSetting, voiceTokenFileSetting)
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", voiceTokenFileSetting, err)
		}
		text := strings.TrimSuffix(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
		if text == "" {
			return nil, fmt.Errorf("%s: %s is empty: one voice bot token a line", voiceTokenFileSetting, file)
		}
		for i, line := range strings.Split(text, "\n") {
			if line == "" {
				return nil, fmt.Errorf("%s: line %d of %s is empty: one voice bot token a line", voiceTokenFileSetting, i+1, file)
			}
			tokens = append(tokens, line)
		}
	case list != "":
		for i, t := range strings.Split(list, ",") {
			if t == "" {
				return nil, fmt.Errorf("%s: token %d is empty", voiceTokensSetting, i+1)
			}
			tokens = append(tokens, t)
		}
	}
	return tokens, nil
}

// validateVoiceTokens checks the voice bots' tokens: no white space, none repeated nor the main
// bot's (a bot user is one voice bot), at most VoiceMaxBots bots in all.
func (c Config) validateVoiceTokens() error {
	where := voiceTokenFileSetting
	if c.VoiceTokensList != "" {
		where = voiceTokensSetting
	}
	seen := map[string]int{c.Token: 0}
	for i, t := range c.VoiceTokens {
		n := i + 1
		switch {
		case t == "":
			return fmt.Errorf("%s: token %d is empty", where, n)
		case strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("%s: token %d contains white space", where, n)
		}
		if first, dup := seen[t]; dup {
			if first == 0 {
				return fmt.Errorf("%s: token %d is the main bot's (-token): a bot user is in one voice channel per guild, so each voice bot needs a bot of its own", where, n)
			}
			return fmt.Errorf("%s: token %d repeats token %d: each voice bot needs a bot of its own", where, n, first)
		}
		seen[t] = n
	}
	if 1+len(c.VoiceTokens) > c.VoiceMaxBots && c.VoiceMaxBots > 0 {
		return fmt.Errorf("%s: %d voice bots with the main bot, over -voice-max-bots ($COVEN_WORKER_VOICE_MAX_BOTS) %d",
			where, 1+len(c.VoiceTokens), c.VoiceMaxBots)
	}
	return nil
}

// voiceBot is one voice bot's gateway session.
type voiceBot struct {
	n  int
	gw *discordgw.Session
}

// voiceBotHandler hands a voice bot's dispatches to its voice controller.
type voiceBotHandler struct {
	w *Worker
	n int
}

func (h voiceBotHandler) HandleDispatch(_ string, ev any) {
	if b := h.w.voice.VoiceBot(h.n); b != nil {
		b.HandleDispatch("", ev)
	}
}

func (voiceBotHandler) LinkDown() {}

// newVoiceBots prepares a gateway session per voice bot token. Each paces its identifies as
// the main session does (Discord counts identifies per bot); its gateway metrics are its own
// and not exported.
func (w *Worker) newVoiceBots(log *slog.Logger) error {
	cfg := w.cfg
	for i, token := range cfg.VoiceTokens {
		n := i + 1
		gw, err := discordgw.New(discordgw.Config{
			Token:           token,
			APIBase:         cfg.DiscordAPI,
			OpenTimeout:     cfg.GatewayOpenTimeout,
			Reconnect:       backoff.Policy{Initial: cfg.ReconnectInitial, Max: cfg.ReconnectMax},
			Logger:          log.With("voice_bot", n),
			Metrics:         metrics.New(),
			LibraryLogLevel: libraryLogLevel(cfg.Level()),

			InvalidSessionWaitMin: cfg.InvalidSessionWaitMin,
			InvalidSessionWaitMax: cfg.InvalidSessionWaitMax,
			IdentifyInterval:      cfg.IdentifyInterval,
		}, voiceBotHandler{w: w, n: n})
		if err != nil {
			return fmt.Errorf("voice bot %d: %w", n, err)
		}
		w.voiceBots = append(w.voiceBots, voiceBot{n: n, gw: gw})
	}
	return nil
}

// runVoiceBots runs the voice bots' sessions until ctx ends. A session that Discord ends for
// good (a bad token: 4004) calls fatal with its error, naming the bot.
func (w *Worker) runVoiceBots(ctx context.Context, fatal func(error)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, b := range w.voiceBots {
		wg.Go(func() {
			err := b.gw.Run(ctx)
			var fc *discordgw.FatalCloseError
			if errors.As(err, &fc) {
				fatal(fmt.Errorf("voice bot %d: %w", b.n, err))
			}
		})
	}
	return &wg
}
