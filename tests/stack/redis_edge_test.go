package stack

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// With the edge's state in Redis, an edge that goes away and comes back keeps its position, so the
// guarantees can be checked strictly: every event applied exactly once, in order, in one epoch, and a
// browser that resumes gets exactly what it missed.

// resume reconnects a viewer whose stream ended, resuming from its last event, and checks the edge
// answered with exactly the missed events (a resumed hello, no snapshot).
func (s *stack) resume(old *viewer) *viewer {
	s.t.Helper()
	pos := old.pos
	v := s.connect(&pos)
	if !v.hello.Resumed {
		s.t.Fatalf("resume from %s answered %s, want a resumed hello", pos, v.hello.Raw)
	}
	v.rooms, v.pos, v.events = old.rooms, old.pos, old.events
	return v
}

// assertNothingSuperseded checks that the worker never had to replace events by a snapshot and
// refused none.
func assertNothingSuperseded(t *testing.T, s *stack) {
	t.Helper()
	for _, m := range []string{
		"coven_worker_events_superseded_total",
		`coven_worker_snapshots_total{reason="snapshot_required"}`,
		"coven_worker_events_dead_lettered_total",
	} {
		if v := s.worker.metric(m); v != 0 {
			t.Errorf("%s = %v, want 0", m, v)
		}
	}
}

func drained(t *testing.T, s *stack, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for s.worker.metric("coven_worker_outbox_pending_events") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v events still pending after %v", s.worker.metric("coven_worker_outbox_pending_events"), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEdgeDownForTwoMinutes kills the edge (nothing listens: connections are refused) for two
// minutes while voice events flow, then starts it again. The worker keeps every event in its outbox
// and delivers it once the edge is back; a browser that resumes from its last event gets every event
// of the outage exactly once, in order, and ends in the emulator's state.
func TestEdgeDownForTwoMinutes(t *testing.T) {
	redis := redistest.Start(t)
	// A heartbeat a second keeps the worker's gateway connection under the emulator's limit of 120
	// messages a minute for the whole test, so that nothing but the outage happens.
	s := newStack(t, stackOptions{edgeGlobal: "broker redis " + redis.URL(), heartbeat: time.Second,
		workerArgs: []string{"-backoff-max", "2s"}})
	tr := newTraffic(s, 12, 3)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	v.waitFor(s, 10*time.Second)
	before := len(v.events)

	s.edge.Stop(syscall.SIGKILL)
	tr.run(context.Background(), t, 600, 5, nil) // two minutes at 5 steps/s
	if p := s.worker.metric("coven_worker_outbox_pending_events"); p == 0 {
		t.Fatal("nothing pending while the edge is down")
	}
	s.edge.Restart()

	v = s.resume(v)
	v.waitFor(s, 60*time.Second)
	drained(t, s, 30*time.Second)
	if got, want := float64(voiceEvents(v)), producedVoice(s.worker); got != want {
		t.Fatalf("the browser got %v voice events, the worker produced %v", got, want)
	}
	for _, f := range v.events[before:] {
		if f.Type == string(event.Snapshot) {
			t.Fatalf("a snapshot replaced events of the outage: %s", f.Raw)
		}
	}
	assertNothingSuperseded(t, s)
}

// TestEdgeKilledRepeatedlyAppliesEachEventOnce kills the edge (kill -9) three times while a thousand
// voice events flow. Its state lives in Redis, so no event is lost or applied twice: the browser,
// resuming after each kill, sees one gapless stream of one epoch.
func TestEdgeKilledRepeatedlyAppliesEachEventOnce(t *testing.T) {
	redis := redistest.Start(t)
	s := newStack(t, stackOptions{edgeGlobal: "broker redis " + redis.URL()})
	tr := newTraffic(s, 30, 4)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	v.waitFor(s, 10*time.Second)
	epoch := v.pos.Epoch
	kills := map[int]bool{250: true, 500: true, 750: true}
	tr.run(context.Background(), t, 1000, 200, func(i int) {
		if !kills[i] {
			return
		}
		// Read what the edge sent before it dies, then resume on the new process.
		for {
			select {
			case f := <-v.c.Frames:
				if !v.take(f) {
					if err := v.apply(f); err != nil {
						t.Fatal(err)
					}
				}
				continue
			default:
			}
			break
		}
		s.edge.Restart()
		v = s.resume(v)
	})
	v.waitFor(s, 30*time.Second)
	drained(t, s, 10*time.Second)
	if got, want := float64(voiceEvents(v)), producedVoice(s.worker); got != want {
		t.Fatalf("the browser got %v voice events, the worker produced %v", got, want)
	}
	if v.pos.Epoch != epoch {
		t.Fatalf("the epoch changed from %s to %s", epoch, v.pos.Epoch)
	}
	assertNothingSuperseded(t, s)
}
