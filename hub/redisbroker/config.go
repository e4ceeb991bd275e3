package redisbroker

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/spellcoven/gateway/hub"
)

// Defaults applied by New to the zero fields of Config.
const (
	DefaultKeyPrefix          = "coven:"
	DefaultStreamLength       = hub.DefaultHistorySize
	DefaultCheckpointInterval = 1000
	DefaultDialTimeout        = 2 * time.Second
	DefaultReadTimeout        = 2 * time.Second
	DefaultReadCount          = 1000
	DefaultReconnectInterval  = time.Second
)

// Upper bounds of Config.
const (
	MaxStreamLength = hub.MaxHistorySize
	MaxReadCount    = 100000
	maxKeyPrefix    = 200
)

// Config configures a Broker. Zero fields take the defaults above; negative ones are errors.
type Config struct {
	// URL locates Redis: redis://[[user]:password@]host[:port][/db], rediss://... for TLS (verified
	// against the system's roots), or unix://[[user]:password@]/path.sock. go-redis options may be
	// given as query parameters (?pool_size=20). The password is never logged nor put in an error.
	URL string
	// KeyPrefix namespaces the broker's keys (default "coven:"). Edges that serve one guild share a
	// prefix; edges of different guilds sharing one Redis need different ones.
	KeyPrefix string
	// StreamLength caps the stream of events, which is the history an instance restores (default
	// 10000, hub.DefaultHistorySize; make it the hubs' HistorySize).
	StreamLength int
	// CheckpointInterval is how many events an instance delivers between two checkpoints of its
	// projection (default 1000, or StreamLength/2 when that is smaller). An instance that starts late
	// replays at most about this many events. It must be at most StreamLength/2, so that the entries
	// after a checkpoint are still in the stream when the next one is written.
	CheckpointInterval int
	// DialTimeout bounds connecting to Redis (default 2s). A query parameter dial_timeout in the URL
	// is used when this is zero.
	DialTimeout time.Duration
	// ReadTimeout bounds each command's reply (default 2s); the blocking read of the stream waits longer
	// by design. It also bounds how long Publish waits for this instance to deliver what it published.
	// A query parameter read_timeout in the URL is used when this is zero.
	ReadTimeout time.Duration
	// ReadCount is the most stream entries one read fetches (default 1000).
	ReadCount int
	// ReconnectInterval is the longest wait between two attempts to reach Redis again after losing it
	// (default 1s); the first retries come sooner.
	ReconnectInterval time.Duration
}

// withDefaults returns c with defaults filled in, or an error naming the first invalid field. It does
// no I/O.
func (c Config) withDefaults() (Config, error) {
	opts, err := parseURL(c.URL)
	if err != nil {
		return c, err
	}
	ints := []struct {
		name     string
		v        *int
		def, max int
	}{
		{"StreamLength", &c.StreamLength, DefaultStreamLength, MaxStreamLength},
		{"ReadCount", &c.ReadCount, DefaultReadCount, MaxReadCount},
		{"CheckpointInterval", &c.CheckpointInterval, 0, MaxStreamLength / 2},
	}
	for _, f := range ints {
		switch {
		case *f.v < 0:
			return c, fmt.Errorf("redisbroker: config: %s is %d; it must not be negative", f.name, *f.v)
		case *f.v > f.max:
			return c, fmt.Errorf("redisbroker: config: %s is %d; it must be at most %d", f.name, *f.v, f.max)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	if c.StreamLength < 2 {
		return c, fmt.Errorf("redisbroker: config: StreamLength is %d; it must be at least 2", c.StreamLength)
	}
	switch {
	case c.CheckpointInterval == 0:
		c.CheckpointInterval = min(DefaultCheckpointInterval, c.StreamLength/2)
	case c.CheckpointInterval > c.StreamLength/2:
		return c, fmt.Errorf("redisbroker: config: CheckpointInterval is %d; it must be at most half of StreamLength (%d)", c.CheckpointInterval, c.StreamLength)
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if len(c.KeyPrefix) > maxKeyPrefix || strings.ContainsFunc(c.KeyPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return c, fmt.Errorf("redisbroker: config: KeyPrefix must be at most %d printable characters without spaces", maxKeyPrefix)
	}
	durations := []struct {
		name    string
		v       *time.Duration
		fromURL time.Duration
		def     time.Duration
	}{
		{"DialTimeout", &c.DialTimeout, opts.DialTimeout, DefaultDialTimeout},
		{"ReadTimeout", &c.ReadTimeout, opts.ReadTimeout, DefaultReadTimeout},
		{"ReconnectInterval", &c.ReconnectInterval, 0, DefaultReconnectInterval},
	}
	for _, f := range durations {
		switch {
		case *f.v < 0:
			return c, fmt.Errorf("redisbroker: config: %s is %v; it must not be negative", f.name, *f.v)
		case *f.v == 0 && f.fromURL > 0:
			*f.v = f.fromURL
		case *f.v == 0:
			*f.v = f.def
		}
	}
	return c, nil
}

// options returns new go-redis options for a Config returned by withDefaults.
func (c Config) options() *redis.Options {
	opts, _ := parseURL(c.URL) // checked by withDefaults
	opts.DialTimeout = c.DialTimeout
	opts.ReadTimeout = c.ReadTimeout
	opts.WriteTimeout = c.ReadTimeout
	// Start-up (Attach) and ingest (Publish) are bounded by their callers' contexts as well.
	opts.ContextTimeoutEnabled = true
	// One retry covers a pooled connection that died with a Redis restart; more would only delay the
	// 503 that tells the worker to retry later. Every command here may be repeated safely.
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	// These handshakes are for managed clusters; a plain redis-server answers them with errors.
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opts.DisableIdentity = true
	return opts
}

// parseURL checks a Redis URL (see Config.URL) and returns its go-redis options. Its errors never
// contain the password.
func parseURL(raw string) (*redis.Options, error) {
	if raw == "" {
		return nil, errors.New("redisbroker: the Redis URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		reason := "it is not a URL"
		var ue *url.Error
		if errors.As(err, &ue) && !containsSecret(ue.Err.Error(), raw) {
			reason = ue.Err.Error()
		}
		return nil, fmt.Errorf("redisbroker: invalid Redis URL: %s", reason)
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return nil, fmt.Errorf("redisbroker: invalid Redis URL: scheme %q; want redis, rediss or unix", u.Scheme)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		reason := "it does not name a Redis server"
		if !containsSecret(err.Error(), raw) {
			reason = strings.TrimPrefix(err.Error(), "redis: ")
		}
		return nil, fmt.Errorf("redisbroker: invalid Redis URL: %s", reason)
	}
	return opts, nil
}

// containsSecret reports whether msg holds the password of the URL raw.
func containsSecret(msg, raw string) bool {
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return false
	}
	userinfo := rest[:at]
	if strings.ContainsAny(userinfo, "/?#") {
		return false // the '@' is in the path or query, not in a userinfo
	}
	_, password, ok := strings.Cut(userinfo, ":")
	return ok && password != "" && strings.Contains(msg, password)
}

// redacted returns raw with its password replaced by "xxxxx", for logs; a URL that does not parse is
// replaced whole.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
