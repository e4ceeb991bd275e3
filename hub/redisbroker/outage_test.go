package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

const testPassword = "s3cret-redis-password-never-shown"

// ingestRetrying ingests events through in as the worker delivers them: a batch refused with
// ErrUnavailable is tried again, for at most waitLimit.
func (in *instance) ingestRetrying(t *testing.T, events ...event.Event) hub.IngestResult {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		res, err := in.hub.Ingest(context.Background(), batchOf(events...))
		if err == nil {
			return res
		}
		if !errors.Is(err, hub.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("ingest from %s: %v", events[0].Position(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statuses lists the broker states that status frames reported, in order.
func statuses(frames []frame) []string {
	var out []string
	for _, f := range frames {
		if f.Type == "status" {
			out = append(out, f.Broker)
		}
	}
	return out
}

func hasStatuses(want ...string) func([]frame, int) bool {
	return func(frames []frame, _ int) bool { return reflect.DeepEqual(statuses(frames), want) }
}

// TestRedisDownKeepsClientsAndRefusesEvents follows an outage: clients stay connected and are told,
// the ingest is refused with ErrUnavailable (503) so that the worker keeps its events, health reports
// the broker without its password, and once Redis is back delivery resumes with nothing lost.
func TestRedisDownKeepsClientsAndRefusesEvents(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", testPassword)
	cfg := Config{URL: fmt.Sprintf("redis://:%s@%s/0", testPassword, srv.Addr())}
	a := startInstance(t, srv, cfg, hub.Config{})
	b := startInstance(t, srv, cfg, hub.Config{})
	s := newStory(t, "e1")
	a.ingest(t, append([]event.Event{s.snapshot()}, s.events(5)...)...)
	b.waitPosition(t, event.Position{Epoch: "e1", Seq: 6})
	onA, onB := a.subscribe(t, nil), b.subscribe(t, nil)

	srv.Stop()
	for _, c := range []*client{onA, onB} {
		c.waitFor(t, "the outage to be told", hasStatuses("unavailable"))
	}
	during := b.subscribe(t, &event.Position{Epoch: "e1", Seq: 3})
	during.waitFor(t, "the outage to be told after the hello", hasStatuses("unavailable"))

	pending := s.events(3)
	_, err := a.hub.Ingest(context.Background(), batchOf(pending...))
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("ingest with Redis down: err = %v, want ErrUnavailable", err)
	}
	for name, in := range map[string]*instance{"a": a, "b": b} {
		hl := in.hub.Health()
		if hl.OK || hl.Broker != hub.BrokerUnavailable || !strings.Contains(hl.BrokerError, srv.Addr()) {
			t.Errorf("health of %s during the outage: %+v", name, hl)
		}
		if strings.Contains(hl.BrokerError, testPassword) {
			t.Errorf("health of %s shows the password", name)
		}
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Error("the ingest error shows the password")
	}

	srv.Restart() // empty: the instances write their state back
	for _, c := range []*client{onA, onB, during} {
		c.waitFor(t, "the recovery to be told", hasStatuses("unavailable", "ok"))
	}
	b.ingestRetrying(t, pending...)
	for name, c := range map[string]*client{"a": onA, "b": onB} {
		frames := c.waitEvents(t, 9)
		if got := eventSeqs(frames); !reflect.DeepEqual(got, seqRange(7, 9)) {
			t.Errorf("client of %s got seqs %v after its snapshot at 6, want 7-9", name, got)
		}
	}
	got := during.waitEvents(t, 9)
	if !got[0].Resumed || !reflect.DeepEqual(eventSeqs(got), seqRange(4, 9)) {
		t.Errorf("client connected during the outage got %v", got)
	}
	for name, c := range map[string]*client{"a": onA, "b": onB, "during": during} {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed != 0 {
			t.Errorf("client of %s was closed with %d", name, closed)
		}
	}
	if hl := a.hub.Health(); !hl.OK {
		t.Errorf("health after recovery: %+v", hl)
	}
}

// TestRedisRestartMidStreamLosesNothing restarts Redis, empty, while batches flow: the instances write
// their state back, the worker's next batches continue where they left off, every client gets every
// event once, and an instance started afterwards serves the same state.
func TestRedisRestartMidStreamLosesNothing(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, Config{CheckpointInterval: 8}, hub.Config{})
	b := startInstance(t, srv, Config{CheckpointInterval: 8}, hub.Config{})
	onA, onB := a.subscribe(t, nil), b.subscribe(t, nil)
	s := newStory(t, "e1")
	a.ingest(t, s.snapshot())
	const total = 60
	events := s.events(total)
	for i := 0; i < total; i += 3 {
		if i == 30 {
			onA.waitEvents(t, uint64(i+1))
			onB.waitEvents(t, uint64(i+1))
			srv.Restart()
		}
		via := []*instance{a, b}[i/3%2]
		via.ingestRetrying(t, events[i:i+3]...)
	}
	for name, c := range map[string]*client{"a": onA, "b": onB} {
		if got := eventSeqs(c.waitEvents(t, total+1)); !reflect.DeepEqual(got, seqRange(1, total+1)) {
			t.Errorf("client of %s got seqs %v", name, got)
		}
	}
	late := startInstance(t, srv, Config{CheckpointInterval: 8}, hub.Config{})
	posA, roomsA := a.hub.Snapshot()
	posL, roomsL := late.hub.Snapshot()
	if posL != posA || !reflect.DeepEqual(roomsL, roomsA) {
		t.Errorf("instance started after the restart holds %v %+v, want %v %+v", posL, roomsL, posA, roomsA)
	}
}

// TestStartFailsClearlyWithoutRedis checks that an instance that cannot reach Redis does not start, and
// says why without showing the password.
func TestStartFailsClearlyWithoutRedis(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", testPassword)
	down := redistest.Start(t)
	down.Stop()
	cases := []struct {
		name, url, says string
	}{
		{"nothing listens", fmt.Sprintf("redis://:%s@%s/0", testPassword, down.Addr()), "connection refused"},
		{"wrong password", fmt.Sprintf("redis://:%s-wrong@%s/0", testPassword, srv.Addr()), "WRONGPASS"},
		{"no password", srv.URL(), "NOAUTH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t, srv, Config{URL: tc.url})
			h, err := hub.New(hub.Config{}, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			err = h.Start(context.Background())
			if !errors.Is(err, hub.ErrUnavailable) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Start: err = %v, want ErrUnavailable saying %q", err, tc.says)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestRecoveryIsToldOnce keeps Redis down long enough for the reader's connection pool to give up
// dialing: go-redis then fails that pool fast and redials in the background once a second. The reader
// must not report Redis back before its own blocking read can work, or clients would be told
// "ok" and "unavailable" in turns until then.
func TestRecoveryIsToldOnce(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, Config{}, hub.Config{})
	c := a.subscribe(t, nil)
	srv.Stop()
	c.waitFor(t, "the outage to be told", hasStatuses("unavailable"))
	time.Sleep(2 * time.Second) // several failed attempts to reconnect
	srv.Restart()
	c.waitFor(t, "the recovery to be told", hasStatuses("unavailable", "ok"))
	time.Sleep(1500 * time.Millisecond) // past go-redis's background redial
	c.mu.Lock()
	got := statuses(c.frames)
	c.mu.Unlock()
	if !reflect.DeepEqual(got, []string{"unavailable", "ok"}) {
		t.Errorf("the client was told %v", got)
	}
}
