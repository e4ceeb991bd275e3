package hub

import (
	"fmt"
	"runtime"
	"time"
)

// Defaults applied by New to the zero fields of Config.
const (
	DefaultHistorySize     = 10000
	DefaultQueueLength     = 256
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxCoalesce     = 64
	DefaultMaxMessageBytes = 64 << 10
)

// Upper bounds of Config. They keep a mistyped value from reserving absurd memory or goroutines.
const (
	MaxHistorySize = 1 << 20
	MaxQueueLength = 1 << 16
	MaxShards      = 1024
	MaxCoalesce    = 4096
)

// Config holds the hub's limits. Zero fields take the defaults above; negative ones are errors.
type Config struct {
	// HistorySize is how many recent events are kept for clients that resume (default 10000).
	HistorySize int
	// QueueLength bounds the frames waiting for one subscriber (default 256): one that still has
	// this many unwritten when more arrive is evicted as too slow. Memory per subscriber is one slot
	// per waiting delivery, frames being shared, so a single batch larger than this reaches a client
	// that keeps up. The hello and missed events sent on resume are not counted.
	QueueLength int
	// WriteTimeout evicts a subscriber whose single socket write takes longer (default 10s).
	WriteTimeout time.Duration
	// Shards is the number of fan-out workers subscribers are spread over (default GOMAXPROCS).
	Shards int
	// MaxCoalesce is the most frames joined into one WebSocket message (default 64).
	MaxCoalesce int
	// MaxMessageBytes stops joining frames before a message would exceed this size (default 64 KiB).
	// A single larger frame, such as a big snapshot, is still written, alone.
	MaxMessageBytes int
}

// withDefaults returns c with defaults filled in, or an error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	ints := []struct {
		name     string
		v        *int
		def, max int
	}{
		{"HistorySize", &c.HistorySize, DefaultHistorySize, MaxHistorySize},
		{"QueueLength", &c.QueueLength, DefaultQueueLength, MaxQueueLength},
		{"Shards", &c.Shards, runtime.GOMAXPROCS(0), MaxShards},
		{"MaxCoalesce", &c.MaxCoalesce, DefaultMaxCoalesce, MaxCoalesce},
		{"MaxMessageBytes", &c.MaxMessageBytes, DefaultMaxMessageBytes, 1 << 30},
	}
	for _, f := range ints {
		switch {
		case *f.v < 0:
			return c, fmt.Errorf("hub: config: %s is %d; it must not be negative", f.name, *f.v)
		case *f.v > f.max:
			return c, fmt.Errorf("hub: config: %s is %d; it must be at most %d", f.name, *f.v, f.max)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	switch {
	case c.WriteTimeout < 0:
		return c, fmt.Errorf("hub: config: WriteTimeout is %v; it must not be negative", c.WriteTimeout)
	case c.WriteTimeout == 0:
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c, nil
}

// scanInterval is how often a shard looks for writes in flight longer than the write timeout. A write
// is evicted between WriteTimeout and WriteTimeout plus this interval after it started, never earlier.
func (c Config) scanInterval() time.Duration {
	return min(max(c.WriteTimeout/4, time.Millisecond), time.Second)
}
