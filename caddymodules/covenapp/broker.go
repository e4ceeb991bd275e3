package covenapp

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
	"github.com/spellcoven/gateway/caddymodules/internal/placeholder"
	"github.com/spellcoven/gateway/hub/redisbroker"
)

// Broker types.
const (
	BrokerMemory = "memory"
	BrokerRedis  = "redis"
)

// BrokerConfig selects how this edge sequences events and shares them with other instances.
type BrokerConfig struct {
	// Type is "memory" (the default: one instance) or "redis" (instances sharing one Redis).
	Type string `json:"type,omitempty"`
	// URL locates one Redis primary: redis://[[user]:password@]host[:port][/db], rediss://... for
	// TLS, or unix://...; usually {env.REDIS_URL}. Placeholders are resolved at provisioning, so a
	// password never appears in the JSON config served by the admin API, nor in logs or errors.
	// A redis broker has exactly one of URL, Sentinel and Cluster.
	URL string `json:"url,omitempty"`
	// Sentinel locates a primary with replicas through Redis Sentinel, which promotes a replica when
	// the primary fails.
	Sentinel *SentinelConfig `json:"sentinel,omitempty"`
	// Cluster locates a Redis Cluster.
	Cluster *ClusterConfig `json:"cluster,omitempty"`
	// Username and Password authenticate to the Redis servers of Sentinel or Cluster (a URL carries
	// its own); placeholders such as {env.REDIS_PASSWORD} are resolved at provisioning.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// KeyPrefix namespaces the keys in Redis (default "coven:").
	KeyPrefix string `json:"key_prefix,omitempty"`
	// StreamLength caps the stream of events in Redis (default: the hub's history_size).
	StreamLength int `json:"stream_length,omitempty"`
	// CheckpointInterval is how many events pass between two checkpoints of the projection in Redis
	// (default 1000, at most half of stream_length).
	CheckpointInterval int `json:"checkpoint_interval,omitempty"`
	// DialTimeout bounds connecting to Redis (default 2s).
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// ReadTimeout bounds each Redis command (default 2s).
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`
}

// SentinelConfig is a primary with replicas watched by Redis Sentinel.
type SentinelConfig struct {
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string `json:"master_name,omitempty"`
	// Addresses are host:port addresses of sentinels. A placeholder may hold several, separated by
	// spaces.
	Addresses []string `json:"addresses,omitempty"`
	// Username and Password authenticate to the sentinels, when they require it.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// ClusterConfig is a Redis Cluster.
type ClusterConfig struct {
	// Addresses are host:port addresses of some of its nodes. A placeholder may hold several,
	// separated by spaces.
	Addresses []string `json:"addresses,omitempty"`
}

// redisConfig resolves c's placeholders into the Redis broker's configuration, or returns nil for the
// memory broker. historySize is the hub's, the stream's length by default.
func (c *BrokerConfig) redisConfig(repl *caddy.Replacer, historySize int) (*redisbroker.Config, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c == nil || c.Type == "" || c.Type == BrokerMemory {
		return nil, nil
	}
	var err error
	resolve := func(option, raw string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = placeholder.Resolve(repl, option, raw)
		return v
	}
	rc := &redisbroker.Config{
		URL:                resolve("broker redis", c.URL),
		Username:           resolve("username", c.Username),
		Password:           resolve("password", c.Password),
		KeyPrefix:          resolve("key_prefix", c.KeyPrefix),
		StreamLength:       c.StreamLength,
		CheckpointInterval: c.CheckpointInterval,
		DialTimeout:        time.Duration(c.DialTimeout),
		ReadTimeout:        time.Duration(c.ReadTimeout),
	}
	if c.Sentinel != nil {
		rc.Sentinel = &redisbroker.Sentinel{
			MasterName: resolve("sentinel", c.Sentinel.MasterName),
			Username:   resolve("sentinel_username", c.Sentinel.Username),
			Password:   resolve("sentinel_password", c.Sentinel.Password),
		}
		if err == nil {
			rc.Sentinel.Addrs, err = placeholder.Fields(repl, "sentinel addresses", c.Sentinel.Addresses)
		}
	}
	if c.Cluster != nil && err == nil {
		rc.Cluster = &redisbroker.Cluster{}
		rc.Cluster.Addrs, err = placeholder.Fields(repl, "cluster", c.Cluster.Addresses)
	}
	if err != nil {
		return nil, err
	}
	if rc.StreamLength == 0 {
		rc.StreamLength = historySize
	}
	return rc, nil
}

// validate checks what can be checked before placeholders are resolved.
func (c *BrokerConfig) validate() error {
	if c == nil {
		return nil
	}
	switch c.Type {
	case "", BrokerMemory:
		if c.URL != "" {
			return fmt.Errorf("broker memory takes no URL")
		}
		if c.Sentinel != nil || c.Cluster != nil || c.Username != "" || c.Password != "" {
			return fmt.Errorf("broker memory takes no Redis settings")
		}
	case BrokerRedis:
		if err := c.validateRedis(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("broker: unknown type %q; want %s or %s", c.Type, BrokerMemory, BrokerRedis)
	}
	if c.StreamLength < 0 || c.CheckpointInterval < 0 || c.DialTimeout < 0 || c.ReadTimeout < 0 {
		return fmt.Errorf("broker: limits must not be negative")
	}
	return nil
}

// validateRedis checks that a redis broker names its Redis one way, completely.
func (c *BrokerConfig) validateRedis() error {
	given := 0
	for _, set := range []bool{c.URL != "", c.Sentinel != nil, c.Cluster != nil} {
		if set {
			given++
		}
	}
	switch {
	case given == 0:
		return fmt.Errorf("broker redis requires a URL, sentinel or cluster")
	case given > 1:
		return fmt.Errorf("broker redis takes one of a URL, sentinel and cluster")
	case c.URL != "" && (c.Username != "" || c.Password != ""):
		return fmt.Errorf("broker redis: username and password are for sentinel and cluster; a URL carries its own")
	case c.Sentinel != nil && c.Sentinel.MasterName == "":
		return fmt.Errorf("broker redis: sentinel requires the name the sentinels monitor the primary under")
	case c.Sentinel != nil && len(c.Sentinel.Addresses) == 0:
		return fmt.Errorf("broker redis: sentinel requires the sentinels' addresses")
	case c.Cluster != nil && len(c.Cluster.Addresses) == 0:
		return fmt.Errorf("broker redis: cluster requires the addresses of some of its nodes")
	}
	return nil
}

// unmarshalCaddyfile parses the broker subdirective:
//
//	broker memory
//	broker redis [<url>] {
//		sentinel            <master_name> <address...>   # instead of <url>: Sentinel
//		sentinel_username   <user>
//		sentinel_password   <password>
//		cluster             <address...>                 # instead of <url>: Redis Cluster
//		username            <user>                       # of the Redis servers, with sentinel or cluster
//		password            <password>
//		key_prefix          <prefix>     # default coven:
//		stream_length       <n>          # default: history_size
//		checkpoint_interval <n>          # default 1000, at most stream_length/2
//		dial_timeout        <duration>   # default 2s
//		read_timeout        <duration>   # default 2s
//	}
func (c *BrokerConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Errf("broker: expected %s or %s <url>", BrokerMemory, BrokerRedis)
	}
	c.Type = d.Val()
	switch c.Type {
	case BrokerMemory:
		if d.NextArg() {
			return d.Errf("broker memory: unexpected argument %q", d.Val())
		}
		if d.NextBlock(d.Nesting()) {
			return d.Err("broker memory takes no options")
		}
		return nil
	case BrokerRedis:
		if d.NextArg() {
			c.URL = d.Val()
		}
		if d.NextArg() {
			return d.Errf("broker redis: unexpected argument %q", d.Val())
		}
	default:
		return d.Errf("broker: unknown type %q; want %s or %s <url>", c.Type, BrokerMemory, BrokerRedis)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "sentinel":
			if c.Sentinel == nil {
				c.Sentinel = new(SentinelConfig)
			}
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Err("sentinel: expected the master name and at least one sentinel address")
			}
			c.Sentinel.MasterName, c.Sentinel.Addresses = args[0], args[1:]
		case "sentinel_username", "sentinel_password":
			if c.Sentinel == nil {
				return d.Errf("%s: put it after the sentinel line", d.Val())
			}
			dst := &c.Sentinel.Username
			if d.Val() == "sentinel_password" {
				dst = &c.Sentinel.Password
			}
			err = caddyfileopt.String(d, dst)
		case "cluster":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("cluster: expected the addresses of some of its nodes")
			}
			c.Cluster = &ClusterConfig{Addresses: args}
		case "username":
			err = caddyfileopt.String(d, &c.Username)
		case "password":
			err = caddyfileopt.String(d, &c.Password)
		case "key_prefix":
			err = caddyfileopt.String(d, &c.KeyPrefix)
		case "stream_length":
			err = caddyfileopt.Int(d, &c.StreamLength)
		case "checkpoint_interval":
			err = caddyfileopt.Int(d, &c.CheckpointInterval)
		case "dial_timeout":
			err = caddyfileopt.Duration(d, &c.DialTimeout)
		case "read_timeout":
			err = caddyfileopt.Duration(d, &c.ReadTimeout)
		default:
			return d.Errf("coven broker: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if c.URL == "" && c.Sentinel == nil && c.Cluster == nil {
		return d.Err("broker redis: expected a URL, such as {env.REDIS_URL}, or a sentinel or cluster option")
	}
	if err := c.validateRedis(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}
