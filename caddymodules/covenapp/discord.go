package covenapp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/spellcoven/gateway/caddymodules/internal/placeholder"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// discordClient is the pooled Discord REST client; it holds no goroutine, so nothing to destruct.
type discordClient struct{ *discordrest.Client }

// Destruct implements caddy.Destructor.
func (discordClient) Destruct() error { return nil }

// provisionDiscord loads or creates the Discord REST client for the bot token. The pool key holds a
// hash of the token, never the token. It does no network I/O.
func (a *App) provisionDiscord(repl *caddy.Replacer) error {
	if a.botToken == "" {
		return nil
	}
	cfg := a.Discord
	var err error
	if cfg.APIURL, err = placeholder.Resolve(repl, "discord_api", cfg.APIURL); err != nil {
		return fmt.Errorf("coven: %w", err)
	}
	sum := sha256.Sum256([]byte(a.botToken))
	key, err := json.Marshal(struct {
		Discord DiscordConfig
		Token   string
	}{cfg, hex.EncodeToString(sum[:])})
	if err != nil {
		return err
	}
	a.discordKey = "discord:" + string(key)
	v, _, err := pool.LoadOrNew(a.discordKey, func() (caddy.Destructor, error) {
		c, err := discordrest.New(discordrest.Config{
			BaseURL:             cfg.APIURL,
			Token:               a.botToken,
			GlobalLimit:         cfg.GlobalRequests,
			InvalidRequestLimit: cfg.InvalidRequests,
			BackoffBase:         time.Duration(cfg.BackoffBase),
			BackoffMax:          time.Duration(cfg.BackoffMax),
			Logger:              a.logger.Named("discord"),
		})
		if err != nil {
			return nil, err
		}
		return discordClient{c}, nil
	})
	if err != nil {
		a.discordKey = ""
		return fmt.Errorf("coven: discord: %w", err)
	}
	a.discord = v.(discordClient).Client
	return nil
}
