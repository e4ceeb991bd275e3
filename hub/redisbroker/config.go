package redisbroker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
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
//
// Exactly one of URL (one primary), Sentinel (a primary with replicas that Redis Sentinel fails
// over) and Cluster (Redis Cluster) locates Redis.
type Config struct {
	// URL locates Redis: redis://[[user]:password@]host[:port][/db], rediss://... for TLS (verified
	// against the system's roots), or unix://[[user]:password@]/path.sock. go-redis options may be
	// given as query parameters (?pool_size=20). The password is never logged nor put in an error.
	URL string
	// Sentinel locates the primary through Redis Sentinel, which promotes a replica when it fails.
	Sentinel *Sentinel
	// Cluster locates a Redis Cluster.
	Cluster *Cluster
	// Username and Password authenticate to the Redis servers of Sentinel or Cluster (a URL carries
	// its own). Neither is ever logged nor put in an error.
	Username, Password string
	// KeyPrefix namespaces the broker's keys (default "coven:"). Edges that serve one guild share a
	// prefix; edges of different guilds sharing one Redis need different ones. Every key is
	// "{" + KeyPrefix + "}" followed by its name: the braces make the prefix the keys' hash tag, so
	// that in Redis Cluster they all live in one slot, where one script may touch them all.
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

// Sentinel is a primary with replicas watched by Redis Sentinel.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the primary under (sentinel monitor <name> ...).
	MasterName string
	// Addrs are host:port addresses of sentinels; the broker asks them where the primary is, and
	// follows them when they promote a replica.
	Addrs []string
	// Username and Password authenticate to the sentinels (their requirepass or ACL user), which
	// may differ from the Redis servers' (Config.Password).
	Username, Password string
}

// Cluster is a Redis Cluster.
type Cluster struct {
	// Addrs are host:port addresses of some of its nodes; the broker learns the others from them.
	Addrs []string
}

// withDefaults returns c with defaults filled in, or an error naming the first invalid field. It does
// no I/O.
func (c Config) withDefaults() (Config, error) {
	var opts *redis.Options
	switch err := c.checkTopology(); {
	case err != nil:
		return c, err
	case c.URL != "":
		if opts, err = parseURL(c.URL); err != nil {
			return c, err
		}
	default:
		opts = &redis.Options{} // no timeouts from a URL
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
	if len(c.KeyPrefix) > maxKeyPrefix || strings.ContainsFunc(c.KeyPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '{' || r == '}' }) {
		return c, fmt.Errorf("redisbroker: config: KeyPrefix must be at most %d printable characters without spaces or braces (the broker puts it in braces)", maxKeyPrefix)
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

// checkTopology checks that exactly one of URL, Sentinel and Cluster is given, and that Sentinel or
// Cluster is complete. Its errors never contain a password.
func (c Config) checkTopology() error {
	given := 0
	for _, set := range []bool{c.URL != "", c.Sentinel != nil, c.Cluster != nil} {
		if set {
			given++
		}
	}
	switch {
	case given == 0:
		return errors.New("redisbroker: config: no Redis: give a URL, Sentinel or Cluster")
	case given > 1:
		return errors.New("redisbroker: config: give only one of a URL, Sentinel and Cluster")
	case c.URL != "" && (c.Username != "" || c.Password != ""):
		return errors.New("redisbroker: config: Username and Password are for Sentinel and Cluster; a URL carries its own")
	case c.Sentinel != nil && c.Sentinel.MasterName == "":
		return errors.New("redisbroker: config: Sentinel needs the name its primary is monitored under (MasterName)")
	case c.Sentinel != nil:
		return checkAddrs("Sentinel", c.Sentinel.Addrs)
	case c.Cluster != nil:
		return checkAddrs("Cluster", c.Cluster.Addrs)
	}
	return nil
}

// checkAddrs checks a list of host:port addresses.
func checkAddrs(what string, addrs []string) error {
	if len(addrs) == 0 {
		return fmt.Errorf("redisbroker: config: %s needs at least one address", what)
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return fmt.Errorf("redisbroker: config: %s address %q is not host:port", what, a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("redisbroker: config: %s address %q: the port must be a number from 1 to 65535", what, a)
		}
	}
	return nil
}

// newClient returns a new go-redis client for a Config returned by withDefaults: a plain client for a
// URL, a failover client for Sentinel, a cluster client for Cluster. poolSize 0 is go-redis's
// default; maxRetries 0 is one retry, -1 none.
func (c Config) newClient(poolSize, maxRetries int) redis.UniversalClient {
	// One retry covers a pooled connection that died with a Redis restart; more would only delay the
	// 503 that tells the worker to retry later. Every command here may be repeated safely.
	if maxRetries == 0 {
		maxRetries = 1
	}
	// These handshakes are for managed clusters; a plain redis-server answers them with errors.
	maint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch {
	case c.Sentinel != nil:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.Sentinel.MasterName, SentinelAddrs: c.Sentinel.Addrs,
			SentinelUsername: c.Sentinel.Username, SentinelPassword: c.Sentinel.Password,
			Username: c.Username, Password: c.Password,
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.ReadTimeout,
			ContextTimeoutEnabled: true, MaxRetries: maxRetries, DialerRetries: 1, PoolSize: poolSize,
			DisableIdentity: true,
		})
	case c.Cluster != nil:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: c.Cluster.Addrs, Username: c.Username, Password: c.Password,
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.ReadTimeout,
			ContextTimeoutEnabled: true, MaxRetries: maxRetries, DialerRetries: 1, PoolSize: poolSize,
			DisableIdentity: true, MaintNotificationsConfig: maint,
		})
	}
	return redis.NewClient(c.options(poolSize, maxRetries))
}

// options returns new go-redis options for a Config with a URL returned by withDefaults.
func (c Config) options(poolSize, maxRetries int) *redis.Options {
	opts, _ := parseURL(c.URL) // checked by withDefaults
	opts.DialTimeout = c.DialTimeout
	opts.ReadTimeout = c.ReadTimeout
	opts.WriteTimeout = c.ReadTimeout
	// Start-up (Attach) and ingest (Publish) are bounded by their callers' contexts as well.
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = maxRetries
	opts.DialerRetries = 1
	if poolSize > 0 {
		opts.PoolSize = poolSize
	}
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opts.DisableIdentity = true
	return opts
}

// where names the Redis of a Config returned by withDefaults for logs and errors, without secrets.
func (c Config) where() string {
	switch {
	case c.Sentinel != nil:
		return "sentinel " + c.Sentinel.MasterName + " (" + strings.Join(c.Sentinel.Addrs, ",") + ")"
	case c.Cluster != nil:
		return "cluster " + strings.Join(c.Cluster.Addrs, ",")
	}
	opts, _ := parseURL(c.URL) // checked by withDefaults
	return opts.Addr
}

// secrets returns the passwords of a Config returned by withDefaults, which no log or error shows.
func (c Config) secrets() []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	add(c.Password)
	if c.Sentinel != nil {
		add(c.Sentinel.Password)
	}
	if c.URL != "" {
		opts, _ := parseURL(c.URL)
		add(opts.Password)
	}
	return out
}

// keyTag returns the hash tag every key starts with: the prefix in braces.
func (c Config) keyTag() string { return "{" + c.KeyPrefix + "}" }

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
