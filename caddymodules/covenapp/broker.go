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
	// URL locates Redis: redis://[[user]:password@]host[:port][/db], rediss://... for TLS, or
	// unix://...; usually {env.REDIS_URL}. Placeholders are resolved at provisioning, so a password
	// never appears in the JSON config served by the admin API, nor in logs or errors.
	URL string `json:"url,omitempty"`
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

// redisConfig resolves c's placeholders into the Redis broker's configuration, or returns nil for the
// memory broker. historySize is the hub's, the stream's length by default.
func (c *BrokerConfig) redisConfig(repl *caddy.Replacer, historySize int) (*redisbroker.Config, error) {
	if c == nil || c.Type == "" || c.Type == BrokerMemory {
		return nil, nil
	}
	if c.Type != BrokerRedis {
		return nil, fmt.Errorf("broker: unknown type %q; want %s or %s", c.Type, BrokerMemory, BrokerRedis)
	}
	url, err := placeholder.Resolve(repl, "broker redis", c.URL)
	if err != nil {
		return nil, err
	}
	prefix, err := placeholder.Resolve(repl, "key_prefix", c.KeyPrefix)
	if err != nil {
		return nil, err
	}
	rc := &redisbroker.Config{
		URL:                url,
		KeyPrefix:          prefix,
		StreamLength:       c.StreamLength,
		CheckpointInterval: c.CheckpointInterval,
		DialTimeout:        time.Duration(c.DialTimeout),
		ReadTimeout:        time.Duration(c.ReadTimeout),
	}
	if rc.StreamLength == 0 {
		rc.StreamLength = historySize
	}
	if rc.URL == "" {
		return nil, fmt.Errorf("broker redis: the URL is empty")
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
	case BrokerRedis:
		if c.URL == "" {
			return fmt.Errorf("broker redis requires a URL")
		}
	default:
		return fmt.Errorf("broker: unknown type %q; want %s or %s", c.Type, BrokerMemory, BrokerRedis)
	}
	if c.StreamLength < 0 || c.CheckpointInterval < 0 || c.DialTimeout < 0 || c.ReadTimeout < 0 {
		return fmt.Errorf("broker: limits must not be negative")
	}
	return nil
}

// unmarshalCaddyfile parses the broker subdirective:
//
//	broker memory
//	broker redis <url> {
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
		if !d.NextArg() {
			return d.Err("broker redis: expected a URL, such as {env.REDIS_URL}")
		}
		c.URL = d.Val()
		if d.NextArg() {
			return d.Errf("broker redis: unexpected argument %q", d.Val())
		}
	default:
		return d.Errf("broker: unknown type %q; want %s or %s <url>", c.Type, BrokerMemory, BrokerRedis)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
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
	return nil
}
