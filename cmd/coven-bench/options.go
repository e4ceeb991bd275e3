package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

// Mode is what a run measures.
type Mode string

// The modes of a run.
const (
	// ModeFanout posts events at a steady rate to connected clients and measures delivery latency and
	// the edge's CPU per delivery.
	ModeFanout Mode = "fanout"
	// ModeIdle holds connected clients without traffic, to measure the edge's memory per connection
	// and that it keeps them all.
	ModeIdle Mode = "idle"
	// ModeIngest posts batches back to back and measures how many events per second the edge accepts.
	ModeIngest Mode = "ingest"
)

// ClientIO is how the bench's clients receive.
type ClientIO string

// The kinds of client I/O.
const (
	// ClientIOEpoll reads raw sockets from a few epoll loops, one read(2) per readiness and no
	// goroutine per client (Linux only): the bench stands for browsers on other machines, so the less
	// of the machine it takes from the edge the better.
	ClientIOEpoll ClientIO = "epoll"
	// ClientIOGo runs a goroutine per client reading with github.com/coder/websocket through Go's
	// netpoller.
	ClientIOGo ClientIO = "go"
)

// Defaults of Options. Clients and Batch depend on the mode; DefaultClientIO on the system.
const (
	DefaultClients        = 1000 // fanout and idle; ingest defaults to none
	DefaultRate           = 50
	DefaultDuration       = 10 * time.Second
	DefaultFanoutBatch    = 1 // a worker posts events as Discord sends them, mostly one at a time
	DefaultIngestBatch    = 100
	DefaultDialParallel   = 32
	DefaultConnectTimeout = 2 * time.Minute
	DefaultDrainTimeout   = 10 * time.Second
	DefaultSettle         = 2 * time.Second
	// ProductionAcceptRate and ProductionAcceptBurst are the production Caddyfile's coven_accept
	// pace, which the edge of a run keeps unless told otherwise.
	ProductionAcceptRate  = 1000
	ProductionAcceptBurst = 100
	// DefaultAbuseNice runs the abusive clients at the lowest priority: they stand for machines
	// elsewhere, and the cores they would take are the edge's and the measured clients'.
	DefaultAbuseNice = 19
)

// Bounds of Options. They keep a mistyped value from exhausting the machine.
const (
	MaxClients      = 100_000
	MaxRate         = 1_000_000
	MaxDuration     = time.Hour
	MaxBatch        = event.DefaultMaxBatchEvents // what the edge accepts in one batch by default
	MaxDialParallel = 1024
	MaxAcceptRate   = 1_000_000 // coven_accept's bound
	// MaxMeasuredEvents bounds rate x duration in fanout mode: the bench keeps a send time per event.
	MaxMeasuredEvents = 10_000_000
)

// Options configure a run.
type Options struct {
	Mode Mode
	// Clients is the number of WebSocket clients (0 is valid only for ingest).
	Clients int
	// Rate is the events per second posted in fanout mode (default 50).
	Rate int
	// Duration is the measured window: publishing in fanout and ingest, holding in idle (default 10s).
	Duration time.Duration
	// Batch is the events per webhook post (default 1 for fanout, 100 for ingest).
	Batch int
	// PayloadBytes is the size of each event's data (default 200).
	PayloadBytes int
	// Caddy is the edge binary; empty builds ./cmd/caddy of the enclosing module into a temporary
	// directory.
	Caddy string
	// ClientIO is how the clients receive (default epoll on Linux, go elsewhere).
	ClientIO ClientIO
	// DialParallel is how many clients connect at once (default 32): the listen backlog of the
	// edge is finite, and a storm of handshakes measures nothing useful.
	DialParallel int
	// ConnectTimeout bounds connecting every client and receiving every hello (default 2m).
	ConnectTimeout time.Duration
	// DrainTimeout bounds the wait for the last deliveries after the last post (default 10s).
	DrainTimeout time.Duration
	// Settle is the pause between the last hello and the memory sample (default 2s); idle mode
	// samples at the end of its window instead.
	Settle time.Duration
	// Abusive runs that many misbehaving clients beside the measured ones during a fanout window (a
	// soak): half never authenticate, the rest send an oversized message, stop answering pings, or
	// reconnect in a tight loop with one token. The edge then runs with the soak's timers (see
	// SoakTimers).
	Abusive int
	// SoakTimers gives the edge the stream timers of a soak (pings every 2s with a 2s timeout, auth
	// timeout 5s) without abusive clients: the clean run a soak is compared with has the same edge,
	// pings included. Abusive implies it.
	SoakTimers bool
	// AcceptRate and AcceptBurst pace the connections the edge accepts (coven_accept), as the
	// production Caddyfile does; an AcceptRate of 0 leaves them unpaced. With Options' zero values
	// they are off; the command line's defaults are the production Caddyfile's.
	AcceptRate, AcceptBurst int
	// QueueLength is the edge's queue_length, the frames waiting for one client before it is closed
	// as too slow (0 keeps the edge's default, 256). An ingest run with clients posts as fast as the
	// edge accepts, so clients on a loaded machine fall behind; a longer queue keeps them connected.
	QueueLength int
	// AbuseNice is the niceness of the process the abusive clients run in (the flag's default is
	// DefaultAbuseNice; 0 runs them at the bench's own priority).
	AbuseNice int
	// HTTPMetrics turns on Caddy's per-request HTTP metrics in the edge (the global metrics option),
	// which the production Caddyfile leaves off. They wrap every request, WebSocket upgrades included,
	// in a recorder that the hijacked connection keeps alive.
	HTTPMetrics bool
	// EdgeProfile, if set, is a file to write the edge's CPU profile of the measured window to.
	EdgeProfile string
	// EdgeHeapProfile, if set, is a file to write the edge's heap profile to once every client is
	// connected and idle.
	EdgeHeapProfile string
	// EdgeHeapProfileAfter, if set, is a file to write the edge's heap profile to after a fanout
	// window (and after the abusive clients are gone).
	EdgeHeapProfileAfter string
	// BenchProfile, if set, is a file to write the bench's own CPU profile of the measured window to.
	BenchProfile string
}

// withDefaults fills the zero fields (Clients excepted) and validates the result.
func (o Options) withDefaults() (Options, error) {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Batch == 0 {
		o.Batch = DefaultFanoutBatch
		if o.Mode == ModeIngest {
			o.Batch = DefaultIngestBatch
		}
	}
	if o.PayloadBytes == 0 {
		o.PayloadBytes = DefaultPayloadBytes
	}
	if o.ClientIO == "" {
		o.ClientIO = DefaultClientIO
	}
	if o.DialParallel == 0 {
		o.DialParallel = DefaultDialParallel
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.Abusive > 0 {
		o.SoakTimers = true
	}
	return o, o.validate()
}

func (o Options) validate() error {
	switch o.Mode {
	case ModeFanout, ModeIdle, ModeIngest:
	default:
		return fmt.Errorf("mode %q: want fanout, idle or ingest", o.Mode)
	}
	switch o.ClientIO {
	case ClientIOGo:
	case ClientIOEpoll:
		if !epollSupported {
			return errors.New("client I/O epoll needs Linux: use go")
		}
	default:
		return fmt.Errorf("client I/O %q: want epoll or go", o.ClientIO)
	}
	switch {
	case o.Clients < 0 || o.Clients > MaxClients:
		return fmt.Errorf("clients %d: want 0 to %d", o.Clients, MaxClients)
	case o.Clients == 0 && o.Mode != ModeIngest:
		return fmt.Errorf("%s mode needs at least one client", o.Mode)
	case o.Rate < 0 || o.Rate > MaxRate:
		return fmt.Errorf("rate %d: want 1 to %d events per second", o.Rate, MaxRate)
	case o.Duration < 0 || o.Duration > MaxDuration:
		return fmt.Errorf("duration %v: want more than 0 and at most %v", o.Duration, MaxDuration)
	case o.Batch < 0 || o.Batch > MaxBatch:
		return fmt.Errorf("batch %d: want 1 to %d events", o.Batch, MaxBatch)
	case o.DialParallel < 0 || o.DialParallel > MaxDialParallel:
		return fmt.Errorf("dial parallelism %d: want 1 to %d", o.DialParallel, MaxDialParallel)
	case o.Abusive < 0 || o.Abusive > MaxClients:
		return fmt.Errorf("abusive clients %d: want 0 to %d", o.Abusive, MaxClients)
	case o.Abusive > 0 && o.Mode != ModeFanout:
		return fmt.Errorf("abusive clients run beside a fanout window, not in %s mode", o.Mode)
	case o.AcceptRate < 0 || o.AcceptRate > MaxAcceptRate:
		return fmt.Errorf("accept rate %d: want 0 (unpaced) to %d connections per second", o.AcceptRate, MaxAcceptRate)
	case o.AcceptRate > 0 && (o.AcceptBurst < 1 || o.AcceptBurst > MaxAcceptRate):
		return fmt.Errorf("accept burst %d: want 1 to %d connections", o.AcceptBurst, MaxAcceptRate)
	case o.SoakTimers && o.Mode != ModeFanout:
		return fmt.Errorf("the soak's timers go with a fanout window, not %s mode", o.Mode)
	case o.AbuseNice < 0 || o.AbuseNice > 19:
		return fmt.Errorf("abuse niceness %d: want 0 (the bench's own priority) to 19", o.AbuseNice)
	case o.QueueLength < 0 || o.QueueLength > hub.MaxQueueLength:
		return fmt.Errorf("queue length %d: want 0 (the edge's default) to %d frames", o.QueueLength, hub.MaxQueueLength)
	case o.ConnectTimeout < 0, o.DrainTimeout < 0, o.Settle < 0:
		return errors.New("timeouts must not be negative")
	}
	if o.Mode == ModeFanout {
		events := o.measuredEvents()
		switch {
		case events < o.Batch:
			return fmt.Errorf("rate %d for %v makes %d events, fewer than one batch of %d", o.Rate, o.Duration, events, o.Batch)
		case events > MaxMeasuredEvents:
			return fmt.Errorf("rate %d for %v makes %d events; at most %d per run", o.Rate, o.Duration, events, MaxMeasuredEvents)
		}
	}
	_, err := newBatchEncoder(o.PayloadBytes)
	return err
}

// measuredEvents is the number of events a fanout run posts: rate x duration, in whole batches.
func (o Options) measuredEvents() int {
	n := int(float64(o.Rate) * o.Duration.Seconds())
	return n - n%max(o.Batch, 1)
}

// defaultClients is the number of clients a mode runs with when none is given.
func defaultClients(m Mode) int {
	if m == ModeIngest {
		return 0
	}
	return DefaultClients
}
