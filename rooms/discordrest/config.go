package discordrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultBaseURL is Discord's REST API, version 10.
const DefaultBaseURL = "https://discord.com/api/v10"

// Defaults of Config's limits.
const (
	DefaultGlobalLimit          = 50
	DefaultInvalidRequestLimit  = 1000
	DefaultInvalidRequestWindow = 10 * time.Minute
	DefaultBackoffBase          = time.Second
	DefaultBackoffMax           = 32 * time.Second
	DefaultUnauthorizedPause    = time.Minute
	DefaultMaxBuckets           = 4096
)

// Bounds of Config's limits: the client keeps one timestamp per request of the global window and one
// counter per second of the invalid-request window.
const (
	MaxGlobalLimit          = 10000
	MaxInvalidRequestWindow = 24 * time.Hour
)

// maxAnswerBytes bounds how much of an answer is read: channel objects are a few KiB.
const maxAnswerBytes = 1 << 20

// Config configures a Client. The zero value of each limit selects its default.
type Config struct {
	// BaseURL is the API's base, without a trailing slash (default DefaultBaseURL). Tests point it at
	// the emulator in package discordtest.
	BaseURL string
	// Token is the bot token, without the "Bot " prefix. Required.
	Token string
	// HTTPClient sends the requests (default: a client of its own with keep-alive).
	HTTPClient *http.Client
	// UserAgent is sent with every request, as Discord asks of bots.
	UserAgent string
	// GlobalLimit is how many requests may start in any one second (default 50, Discord's global
	// limit per bot; at most MaxGlobalLimit). Lower it when other programs use the same token heavily.
	GlobalLimit int
	// InvalidRequestLimit is how many 401, 403 and 429 answers within InvalidRequestWindow make the
	// client refuse to call Discord until the count falls (default 1000; Cloudflare bans at 10,000).
	InvalidRequestLimit int
	// InvalidRequestWindow is the window of InvalidRequestLimit (default 10 minutes, Discord's).
	InvalidRequestWindow time.Duration
	// BackoffBase is the first wait after a failure worth retrying; each further failure doubles it
	// (default 1s). A 429's retry_after is honoured when it is longer.
	BackoffBase time.Duration
	// BackoffMax caps the doubling (default 32s).
	BackoffMax time.Duration
	// UnauthorizedPause is how long calls are refused after Discord rejected the token (401), before
	// one call tries it again (default 1m). A rejected token stays rejected; calling on would only
	// feed the invalid-request count.
	UnauthorizedPause time.Duration
	// MaxBuckets bounds the rate-limit buckets remembered (default 4096); buckets whose window is
	// over are forgotten first.
	MaxBuckets int
	// Logger receives warnings (token rejected, ban, permissions). Nil discards them.
	Logger *zap.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Token == "" {
		return c, errors.New("discordrest: a bot token is required")
	}
	if strings.ContainsAny(c.Token, " \r\n\t") {
		return c, errors.New("discordrest: the bot token must not contain white space (give it without \"Bot \")")
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return c, fmt.Errorf("discordrest: base URL %q is not an http(s) URL without query or credentials", c.BaseURL)
	}
	for _, f := range []struct {
		v    *int
		def  int
		name string
	}{
		{&c.GlobalLimit, DefaultGlobalLimit, "GlobalLimit"},
		{&c.InvalidRequestLimit, DefaultInvalidRequestLimit, "InvalidRequestLimit"},
		{&c.MaxBuckets, DefaultMaxBuckets, "MaxBuckets"},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("discordrest: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.InvalidRequestWindow, DefaultInvalidRequestWindow, "InvalidRequestWindow"},
		{&c.BackoffBase, DefaultBackoffBase, "BackoffBase"},
		{&c.BackoffMax, DefaultBackoffMax, "BackoffMax"},
		{&c.UnauthorizedPause, DefaultUnauthorizedPause, "UnauthorizedPause"},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("discordrest: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.GlobalLimit > MaxGlobalLimit {
		return c, fmt.Errorf("discordrest: GlobalLimit must be at most %d", MaxGlobalLimit)
	}
	if c.InvalidRequestWindow > MaxInvalidRequestWindow {
		return c, fmt.Errorf("discordrest: InvalidRequestWindow must be at most %v", MaxInvalidRequestWindow)
	}
	if c.BackoffMax < c.BackoffBase {
		return c, errors.New("discordrest: BackoffMax must not be below BackoffBase")
	}
	if c.InvalidRequestWindow < time.Second {
		return c, errors.New("discordrest: InvalidRequestWindow must be at least 1s")
	}
	if c.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		c.HTTPClient = &http.Client{Transport: t}
	}
	if c.UserAgent == "" {
		c.UserAgent = "DiscordBot (https://github.com/spellcoven/gateway, 1)"
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}
