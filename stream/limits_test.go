package stream

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// wantRefused checks that an upgrade is refused 429 with Retry-After, and counted for reason.
func (r *rig) wantRefused(reason string, n int) {
	r.t.Helper()
	c, resp := r.upgrade(nil)
	if c != nil || resp.StatusCode != http.StatusTooManyRequests {
		r.t.Fatalf("upgrade answered %s, want 429", resp.Status)
	}
	if got := r.counts.get(&r.counts.rejected, reason); got != n {
		r.t.Fatalf("rejected %v, want %s %d times", r.counts.rejected, reason, n)
	}
}

// waitCounts waits until the tracker holds want.
func (r *rig) waitCounts(want Counts) {
	r.t.Helper()
	waitFor(r.t, fmt.Sprintf("tracker counts %+v", want), func() bool { return r.srv.tracker.Counts() == want })
}

func TestMaxPerSubject(t *testing.T) {
	r := newRig(t, Config{MaxPerSubject: 2})
	a, _ := r.connect("alice"), r.connect("alice")
	third := r.dial(nil)
	third.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour)})
	third.expectClose(int(CloseTooManyStreams), "too_many_streams")
	if n := r.counts.get(&r.counts.rejected, ReasonMaxPerSubject); n != 1 {
		t.Fatalf("rejected %v", r.counts.rejected)
	}
	// Another user is not affected, and alice may open one again once one of hers has ended.
	r.connect("bob")
	a.send(opClose, []byte{0x03, 0xe8})
	a.expectClose(1000, "")
	r.waitCounts(Counts{Total: 2, IPs: 1, Subjects: 2})
	r.connect("alice")
}

func TestMaxPerIP(t *testing.T) {
	r := newRig(t, Config{MaxPerIP: 3})
	a, _, _ := r.connect("alice"), r.connect("bob"), r.dial(nil)
	r.wantRefused(ReasonMaxPerIP, 1)
	a.conn.Close()
	r.waitCounts(Counts{Total: 2, Unauthenticated: 1, IPs: 1, Subjects: 1})
	r.connect("carol")
	r.wantRefused(ReasonMaxPerIP, 2)
}

func TestMaxUnauthenticated(t *testing.T) {
	r := newRig(t, Config{MaxUnauthenticated: 2})
	a, _ := r.dial(nil), r.dial(nil)
	r.wantRefused(ReasonMaxUnauthenticated, 1)
	// Authenticating frees the place: a socket streaming no longer waits.
	a.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour)})
	if f := a.next(); f.Type != "hello" {
		t.Fatalf("frame %+v", f)
	}
	r.dial(nil)
	r.wantRefused(ReasonMaxUnauthenticated, 2)
}

func TestMaxConnections(t *testing.T) {
	r := newRig(t, Config{MaxConnections: 2})
	r.connect("alice")
	r.dial(nil)
	r.wantRefused(ReasonMaxConnections, 1)
}

func TestMessageRate(t *testing.T) {
	// A rate this low refills nothing during the test: exactly the burst passes.
	r := newRig(t, Config{MessageRate: 0.001, MessageBurst: 3})
	c := r.connect("alice")
	for i := 0; i < 3; i++ {
		c.sendJSON(map[string]string{"type": "ping"})
		if f := c.next(); f.Type != "pong" {
			t.Fatalf("ping %d: frame %+v", i, f)
		}
	}
	c.sendJSON(map[string]string{"type": "ping"})
	c.expectClose(int(CloseRateLimited), "rate_limited")
	r.waitEnded()
	if n := r.counts.get(&r.counts.dropped, ReasonMessageRate); n != 1 {
		t.Fatalf("dropped %v", r.counts.dropped)
	}
}

// TestCountsReturnToZero: whatever ends the sessions, the tracker gives everything back.
func TestCountsReturnToZero(t *testing.T) {
	r := newRig(t, Config{AuthTimeout: 100 * time.Millisecond})
	r.connect("alice")
	r.connect("alice")
	r.dial(nil) // closed 4002
	gone := r.connect("bob")
	gone.conn.Close()
	r.waitCounts(Counts{Total: 2, IPs: 1, Subjects: 1})
	r.hub.Close()
	r.waitEnded()
	r.waitCounts(Counts{})
}

func TestRefusalsAreLoggedOncePerInterval(t *testing.T) {
	tr := NewTracker()
	t0 := time.Unix(1000, 0)
	if !tr.shouldLog("a", t0) || tr.shouldLog("a", t0.Add(RefusalLogInterval-time.Second)) {
		t.Fatal("a key logged twice within the interval")
	}
	if !tr.shouldLog("b", t0) || !tr.shouldLog("a", t0.Add(RefusalLogInterval)) {
		t.Fatal("a new key or an elapsed interval not logged")
	}
	for i := 0; i < 2*maxLogKeys; i++ {
		tr.shouldLog(strconv.Itoa(i), t0)
	}
	if n := len(tr.logged); n > maxLogKeys {
		t.Fatalf("%d keys remembered, bound %d", n, maxLogKeys)
	}
}

// A socket whose auth message is refused is held for RefusalDelay before its close, counted among its
// IP's unauthenticated sockets meanwhile, so that a client reconnecting in a loop is slowed down.
func TestRefusalIsHeld(t *testing.T) {
	const delay = 300 * time.Millisecond
	r := newRig(t, Config{MaxPerSubject: 1, MaxUnauthenticated: 2, RefusalDelay: delay})
	r.connect("alice")
	for _, tc := range []struct {
		name, token string
		code        int
		errCode     string
	}{
		{"subject at its limit", r.token("alice", time.Hour), int(CloseTooManyStreams), "too_many_streams"},
		{"bad token", "not.a.token", int(CloseUnauthorized), "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := r.dial(nil), r.dial(nil)
			sent := time.Now()
			a.sendJSON(map[string]any{"type": "auth", "token": tc.token})
			b.sendJSON(map[string]any{"type": "auth", "token": tc.token})
			// While both are held, the IP is at max_unauthenticated: a third is refused before
			// its upgrade.
			r.waitCounts(Counts{Total: 3, Unauthenticated: 2, IPs: 1, Subjects: 1})
			if c, resp := r.upgrade(nil); c != nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("upgrade beside two held sockets answered %s, want 429", resp.Status)
			}
			a.expectClose(tc.code, tc.errCode)
			if held := time.Since(sent); held < delay {
				t.Fatalf("refused after %v, want at least %v", held, delay)
			}
			b.expectClose(tc.code, tc.errCode)
			r.waitCounts(Counts{Total: 1, IPs: 1, Subjects: 1})
		})
	}
}

// A subject that opens streams faster than StreamRate is refused 4029, even when it closed the ones
// before (a client reconnecting in a loop); other subjects are not affected.
func TestStreamRate(t *testing.T) {
	r := newRig(t, Config{StreamRate: 0.001, StreamBurst: 2})
	for range 2 {
		c := r.connect("alice")
		c.send(opClose, []byte{0x03, 0xe8})
		c.expectClose(1000, "")
	}
	r.waitCounts(Counts{})
	third := r.dial(nil)
	third.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour)})
	third.expectClose(int(CloseRateLimited), "rate_limited")
	if n := r.counts.get(&r.counts.rejected, ReasonStreamRate); n != 1 {
		t.Fatalf("rejected %v, want %s once", r.counts.rejected, ReasonStreamRate)
	}
	r.connect("bob")
}

// The tracker forgets the subjects that hold no stream once their bucket has refilled, so that it
// does not grow with every subject ever seen; the others it keeps.
func TestTrackerForgetsIdleSubjects(t *testing.T) {
	cfg, err := Config{StreamRate: 1, StreamBurst: 1}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker()
	t0 := time.Unix(1000, 0)
	var held *Admission
	for i := range minSweep {
		a, reason := tr.admit("192.0.2.1", cfg)
		if a == nil {
			t.Fatalf("admit %d: %s", i, reason)
		}
		if reason := a.authenticate("user-"+strconv.Itoa(i), cfg, t0); reason != "" {
			t.Fatalf("authenticate %d: %s", i, reason)
		}
		if i == 0 {
			held = a
			continue
		}
		a.Release()
	}
	// user-1 reconnects at once: its bucket is empty, and it is remembered although it holds nothing.
	a, _ := tr.admit("192.0.2.1", cfg)
	if reason := a.authenticate("user-1", cfg, t0); reason != ReasonStreamRate {
		t.Fatalf("user-1 again at once: %q, want %s", reason, ReasonStreamRate)
	}
	a.Release()
	// A new subject later sweeps: only user-0, still streaming, is kept besides it.
	a, _ = tr.admit("192.0.2.1", cfg)
	if reason := a.authenticate("newcomer", cfg, t0.Add(time.Minute)); reason != "" {
		t.Fatalf("newcomer: %s", reason)
	}
	tr.mu.Lock()
	n := len(tr.subjects)
	tr.mu.Unlock()
	if n != 2 {
		t.Fatalf("tracker remembers %d subjects after the sweep, want 2", n)
	}
	if c := tr.Counts(); c.Subjects != 2 || c.Total != 2 {
		t.Fatalf("counts %+v", c)
	}
	held.Release()
	a.Release()
	if c := tr.Counts(); c != (Counts{}) {
		t.Fatalf("counts after release %+v", c)
	}
}
