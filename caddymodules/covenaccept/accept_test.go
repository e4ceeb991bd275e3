package covenaccept

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// adaptWrappers adapts a Caddyfile whose servers use the given listener_wrappers block and returns the
// wrappers of its one server as JSON objects.
func adaptWrappers(t *testing.T, block string) ([]map[string]any, error) {
	t.Helper()
	src := "{\n\tservers {\n\t\tlistener_wrappers {\n" + block + "\n\t\t}\n\t}\n}\n:8080 {\n\trespond ok\n}\n"
	out, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(src), nil)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					ListenerWrappers []map[string]any `json:"listener_wrappers"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("adapted JSON: %v", err)
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		return srv.ListenerWrappers, nil
	}
	t.Fatalf("no server in %s", out)
	return nil, nil
}

func TestCaddyfile(t *testing.T) {
	ws, err := adaptWrappers(t, "coven_accept {\n\trate 500\n\tburst 20\n}\ntls")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0]["wrapper"] != "coven_accept" || ws[0]["rate"] != 500.0 || ws[0]["burst"] != 20.0 || ws[1]["wrapper"] != "tls" {
		t.Fatalf("wrappers %v, want coven_accept (rate 500, burst 20) then tls", ws)
	}
	ws, err = adaptWrappers(t, "coven_accept")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0]["wrapper"] != "coven_accept" || ws[0]["rate"] != nil || ws[0]["burst"] != nil {
		t.Fatalf("wrappers %v, want coven_accept with the defaults", ws)
	}

	for _, bad := range []struct{ block, want string }{
		{"coven_accept {\n\trate 0\n}", `rate "0": want a whole number from 1 to 1000000`},
		{"coven_accept {\n\trate -5\n}", `rate "-5"`},
		{"coven_accept {\n\tburst 1.5\n}", `burst "1.5"`},
		{"coven_accept {\n\trate 2000000\n}", `rate "2000000"`},
		{"coven_accept {\n\trate\n}", "wrong argument count"},
		{"coven_accept {\n\trate 5 6\n}", "wrong argument count"},
		{"coven_accept 5", "wrong argument count"},
		{"coven_accept {\n\tlimit 5\n}", `unknown option "limit" (want rate or burst)`},
	} {
		if _, err := adaptWrappers(t, bad.block); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error with %q", bad.block, err, bad.want)
		}
	}
}

func provision(t *testing.T, w *Wrapper) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return w.Provision(ctx)
}

func TestProvision(t *testing.T) {
	w := &Wrapper{}
	if err := provision(t, w); err != nil {
		t.Fatal(err)
	}
	if w.Rate != DefaultRate || w.Burst != DefaultBurst {
		t.Fatalf("defaults: rate %d, burst %d; want %d and %d", w.Rate, w.Burst, DefaultRate, DefaultBurst)
	}
	for _, bad := range []Wrapper{{Rate: -1}, {Burst: -1}, {Rate: MaxRate + 1}, {Burst: MaxRate + 1}} {
		if err := provision(t, &bad); err == nil {
			t.Errorf("%+v: provisioned, want an error", bad)
		}
	}
}

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// listen returns a paced listener on 127.0.0.1 with n connections waiting in its queue.
func listen(t *testing.T, interval time.Duration, burst, n int) *listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{Listener: inner, interval: interval, burst: burst, done: make(chan struct{})}
	t.Cleanup(func() { _ = l.Close() })
	dial(t, l, n)
	return l
}

// dial opens n connections to l, which the kernel completes before any is accepted.
func dial(t *testing.T, l *listener, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
}

// Connections waiting in the accept queue are taken a burst at once, then one per interval; a
// long quiet period saves up no more than a burst.
func TestPace(t *testing.T) {
	const (
		interval = 50 * time.Millisecond
		burst    = 3
		n        = 9
	)
	l := listen(t, interval, burst, n)
	checkPace(t, l, n)
	l.mu.Lock()
	l.next = time.Now().Add(-time.Hour) // the last connection was long ago
	l.mu.Unlock()
	dial(t, l, n)
	checkPace(t, l, n)
}

// checkPace accepts n connections waiting in l's queue and checks that those beyond the burst came
// no sooner than their turn, and that the metrics counted the waits.
func checkPace(t *testing.T, l *listener, n int) {
	t.Helper()
	delayedBefore, secondsBefore := value(t, delayed), value(t, delaySeconds)
	start := time.Now()
	for k := range n {
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("accept %d: %v", k, err)
		}
		_ = c.Close()
		// The k-th connection (from 0) beyond the burst cannot come before its turn; a slow machine
		// only makes it later.
		if k >= l.burst {
			if got, earliest := time.Since(start), time.Duration(k-l.burst+1)*l.interval; got < earliest {
				t.Fatalf("connection %d accepted after %v, before its turn at %v", k, got, earliest)
			}
		}
	}
	// Each accept beyond the burst waited, unless the machine was so slow that its turn had come.
	waits := float64(n - l.burst)
	if d := value(t, delayed) - delayedBefore; d < 1 || d > waits {
		t.Fatalf("coven_accept_delayed_total grew by %v, want 1 to %v", d, waits)
	}
	if s := value(t, delaySeconds) - secondsBefore; s <= 0 || s > waits*l.interval.Seconds() {
		t.Fatalf("coven_accept_delay_seconds_total grew by %v, want more than 0 and at most %v", s, waits*l.interval.Seconds())
	}
}

// Closing the listener ends an Accept waiting for its turn at once, not when the turn comes.
func TestCloseWhileWaiting(t *testing.T) {
	l := listen(t, time.Hour, 1, 2)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if c != nil {
			_ = c.Close()
		}
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("accept still waiting for its turn after the listener closed")
	}
	if err := l.Close(); err == nil {
		t.Fatal("second close: no error, want the listener's")
	}
}
