// Package covenaccept is the coven_accept listener wrapper: it paces the connections a server
// accepts, so that a storm of new connections waits in the kernel's accept queue instead of becoming,
// all at once, runnable goroutines ahead of the streams already served.
package covenaccept

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and bounds of the pace.
const (
	DefaultRate  = 1000
	DefaultBurst = 100
	MaxRate      = 1_000_000
)

func init() {
	caddy.RegisterModule(Wrapper{})
}

// Wrapper paces accepted connections with a token bucket: at most Burst at once, then Rate a
// second. Connections beyond the pace stay in the listen backlog until their turn.
type Wrapper struct {
	// Rate is the connections accepted per second, on average (default 1000).
	Rate int `json:"rate,omitempty"`
	// Burst is the connections accepted back to back after a quiet period (default 100).
	Burst int `json:"burst,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Wrapper) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.coven_accept",
		New: func() caddy.Module { return new(Wrapper) },
	}
}

// Provision fills the defaults, checks the values and registers the metrics.
func (w *Wrapper) Provision(ctx caddy.Context) error {
	if w.Rate == 0 {
		w.Rate = DefaultRate
	}
	if w.Burst == 0 {
		w.Burst = DefaultBurst
	}
	switch {
	case w.Rate < 0 || w.Rate > MaxRate:
		return fmt.Errorf("coven_accept: rate %d: want 1 to %d connections per second", w.Rate, MaxRate)
	case w.Burst < 0 || w.Burst > MaxRate:
		return fmt.Errorf("coven_accept: burst %d: want 1 to %d connections", w.Burst, MaxRate)
	}
	registerMetrics(ctx.GetMetricsRegistry())
	return nil
}

// Connections that waited for their turn, and how long they waited in all: a server that paces
// often is under a storm of connections, or its rate is too low for its audience.
var (
	delayed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "coven", Name: "accept_delayed_total",
		Help: "Accepts coven_accept made wait to keep to its rate: a storm of new connections, or a rate too low for the audience."})
	delaySeconds = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "coven", Name: "accept_delay_seconds_total",
		Help: "Seconds coven_accept waited before accepting, summed."})
)

func registerMetrics(reg *prometheus.Registry) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{delayed, delaySeconds} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // a programming error: descriptors clash
			}
		}
	}
}

// WrapListener returns l paced.
func (w *Wrapper) WrapListener(l net.Listener) net.Listener {
	return &listener{Listener: l, interval: time.Second / time.Duration(w.Rate), burst: w.Burst, done: make(chan struct{})}
}

// UnmarshalCaddyfile sets up the wrapper from Caddyfile tokens. Syntax:
//
//	coven_accept {
//		rate  <n>   # connections per second, default 1000
//		burst <n>   # default 100
//	}
func (w *Wrapper) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the wrapper's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		var dst *int
		switch opt {
		case "rate":
			dst = &w.Rate
		case "burst":
			dst = &w.Burst
		default:
			return d.Errf("coven_accept: unknown option %q (want rate or burst)", opt)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		n, err := strconv.Atoi(d.Val())
		if err != nil || n < 1 || n > MaxRate {
			return d.Errf("coven_accept: %s %q: want a whole number from 1 to %d", opt, d.Val(), MaxRate)
		}
		*dst = n
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// listener is a paced net.Listener. Its Accept is called by one goroutine at a time (the server's
// accept loop); the mutex keeps it correct for any caller.
type listener struct {
	net.Listener
	interval time.Duration
	burst    int

	mu   sync.Mutex
	next time.Time // the earliest time of the next accept: one interval later per connection, never more than burst-1 intervals behind now

	closeOnce sync.Once
	done      chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	// The bucket holds at most burst tokens: a long quiet period does not save up more.
	if floor := now.Add(-time.Duration(l.burst-1) * l.interval); l.next.Before(floor) {
		l.next = floor
	}
	if wait := l.next.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
		delayed.Inc()
		delaySeconds.Add(wait.Seconds())
	}
	c, err := l.Listener.Accept()
	if err == nil {
		l.next = l.next.Add(l.interval)
	}
	return c, err
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Wrapper)(nil)
	_ caddy.ListenerWrapper = (*Wrapper)(nil)
	_ caddyfile.Unmarshaler = (*Wrapper)(nil)
)
