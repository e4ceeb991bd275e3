package redisbroker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// signalSink is a hub.Sink that reports each position it applies.
type signalSink struct {
	mu      sync.Mutex
	last    event.Position
	applied chan event.Position
}

func (s *signalSink) Restore(st hub.State) {
	s.mu.Lock()
	s.last = st.Position
	s.mu.Unlock()
}

func (s *signalSink) Apply(records []*hub.Record) {
	pos := records[len(records)-1].Position()
	s.mu.Lock()
	s.last = pos
	s.mu.Unlock()
	s.applied <- pos
}

func (s *signalSink) State() hub.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return hub.State{Position: s.last}
}

func (s *signalSink) BrokerStatus(bool) {}

// BenchmarkRedisHop measures the hop that Redis adds between instances: one event published through
// the hub of one instance, until another instance has applied it. Each iteration is one event,
// published when the previous one arrived, so ns/op is the hop's latency at rest; p99-us is over the
// iterations.
//
//	go test -run '^$' -bench RedisHop -benchtime 5000x ./hub/redisbroker/
func BenchmarkRedisHop(b *testing.B) {
	srv := redistest.Start(b)
	a := startInstance(b, srv, Config{}, hub.Config{})
	sink := &signalSink{applied: make(chan event.Position, 16)}
	other := newBroker(b, srv, Config{})
	detach, err := other.Attach(context.Background(), sink)
	if err != nil {
		b.Fatal(err)
	}
	defer detach()
	s := newStory(b, "e1")
	a.ingest(b, s.snapshot())
	<-sink.applied
	events := make([]event.Event, b.N)
	for i := range events {
		events[i] = s.event(event.RoomUpdated, &event.RoomPayload{Room: event.Room{ID: roomID(0), Name: "Table"}})
	}
	hops := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := a.hub.Ingest(context.Background(), batchOf(events[i])); err != nil {
			b.Fatal(err)
		}
		if pos := <-sink.applied; pos != events[i].Position() {
			b.Fatalf("applied %v, want %v", pos, events[i].Position())
		}
		hops[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(hops)
	b.ReportMetric(float64(hops[len(hops)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(hops[len(hops)*99/100].Microseconds()), "p99-us")
}
