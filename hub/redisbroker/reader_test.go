package redisbroker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// stallingSink is a hub.Sink that keeps what it is given and whose Apply can be held, like an instance
// that stalls long enough for the stream to be trimmed past it.
type stallingSink struct {
	mu       sync.Mutex
	st       hub.State
	restores []event.Position
	changed  chan struct{}
	hold     chan struct{} // while not nil, Apply waits until it is closed
	held     chan struct{} // closed when an Apply starts waiting
}

func newStallingSink() *stallingSink { return &stallingSink{changed: make(chan struct{})} }

func (s *stallingSink) Restore(st hub.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	s.st.History = append([]*hub.Record{}, st.History...)
	s.restores = append(s.restores, st.Position)
	s.notifyLocked()
}

func (s *stallingSink) Apply(records []*hub.Record) {
	s.mu.Lock()
	hold, held := s.hold, s.held
	s.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.History = append(s.st.History, records...)
	s.st.Position = records[len(records)-1].Position()
	s.notifyLocked()
}

func (s *stallingSink) State() hub.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.History = append([]*hub.Record{}, s.st.History...)
	return st
}

func (s *stallingSink) BrokerStatus(bool) {}

func (s *stallingSink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// stall makes the next Apply wait until the returned function is called.
func (s *stallingSink) stall() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold, s.held = make(chan struct{}), make(chan struct{})
	hold := s.hold
	return s.held, func() {
		s.mu.Lock()
		s.hold = nil
		s.mu.Unlock()
		close(hold)
	}
}

func (s *stallingSink) waitPosition(t *testing.T, want event.Position) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		pos, changed := s.st.Position, s.changed
		s.mu.Unlock()
		if pos == want {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the sink is at %v, want %v", pos, want)
		}
	}
}

// TestInstanceTheStreamWasTrimmedPastRestores stalls one instance while the stream is trimmed past
// the last event it delivered: once it reads again it restores from the checkpoint, instead of
// applying events with a hole before them.
func TestInstanceTheStreamWasTrimmedPastRestores(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{StreamLength: 20, CheckpointInterval: 5}
	a := startInstance(t, srv, cfg, hub.Config{HistorySize: 20})
	s := newStory(t, "e1")
	a.ingest(t, append([]event.Event{s.snapshot()}, s.events(2)...)...)

	sink := newStallingSink()
	b := newBroker(t, srv, cfg)
	detach, err := b.Attach(context.Background(), sink)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	sink.waitPosition(t, event.Position{Epoch: "e1", Seq: 3})

	held, release := sink.stall()
	a.ingest(t, s.events(1)...)
	<-held
	for range 10 {
		a.ingest(t, s.events(4)...)
	}
	release()
	sink.waitPosition(t, event.Position{Epoch: "e1", Seq: 44})

	st := sink.State()
	sink.mu.Lock()
	restores := sink.restores
	sink.mu.Unlock()
	if len(restores) != 2 || restores[1].Seq < 44-5-4 {
		t.Errorf("restored at %v, want once at attach and once from a checkpoint of the last few events", restores)
	}
	// What the sink holds leads without a hole to e1/44.
	hist := unbrokenHistory(st, 100)
	if len(hist) == 0 || hist[0].Position().Seq > 44-19 {
		t.Errorf("the sink's history from its restore on is %d events, want the stream's", len(hist))
	}
	if posA, _ := a.hub.Snapshot(); posA != st.Position {
		t.Errorf("the sink is at %v, the other instance at %v", st.Position, posA)
	}
}
