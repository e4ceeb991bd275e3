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
// the hub of one instance, until another instance has applied it, with one Redis primary, with a
// primary found through Sentinel (a replica and three sentinels beside it) and with a Redis Cluster of
// three primaries. Each iteration sends one event through each topology in turn, each published when
// the previous one arrived, so that whatever else loads the machine weighs on the three alike; ns/op
// is the three hops together, and <topology>-p50-us and -p99-us are over the iterations.
//
//	go test -run '^$' -bench RedisHop -benchtime 5000x ./hub/redisbroker/
func BenchmarkRedisHop(b *testing.B) {
	srv := redistest.Start(b)
	sn := redistest.StartSentinel(b, 5*time.Second)
	cl := redistest.StartCluster(b, 3)
	topologies := []struct {
		name string
		cfg  Config
	}{
		{"primary", Config{URL: srv.URL()}},
		{"sentinel", Config{Sentinel: &Sentinel{MasterName: redistest.MasterName, Addrs: sn.Addrs()}}},
		{"cluster", Config{Cluster: &Cluster{Addrs: cl.Addrs()}}},
	}
	hops := make([]*hop, len(topologies))
	for i, tp := range topologies {
		hops[i] = newHop(b, tp.cfg)
	}
	b.ResetTimer()
	for i := range b.N {
		for _, h := range hops {
			h.run(b, i)
		}
	}
	b.StopTimer()
	for i, tp := range topologies {
		slices.Sort(hops[i].took)
		b.ReportMetric(float64(hops[i].took[len(hops[i].took)/2].Microseconds()), tp.name+"-p50-us")
		b.ReportMetric(float64(hops[i].took[len(hops[i].took)*99/100].Microseconds()), tp.name+"-p99-us")
	}
}

// hop is an instance publishing and another applying, on one Redis topology.
type hop struct {
	from   *instance
	to     *signalSink
	events []event.Event
	took   []time.Duration
}

// newHop starts both instances on cfg and builds b.N events to send.
func newHop(b *testing.B, cfg Config) *hop {
	b.Helper()
	a := startInstance(b, nil, cfg, hub.Config{})
	sink := &signalSink{applied: make(chan event.Position, 16)}
	other := newBroker(b, nil, cfg)
	detach, err := other.Attach(context.Background(), sink)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(detach)
	s := newStory(b, "e1")
	a.ingest(b, s.snapshot())
	<-sink.applied
	h := &hop{from: a, to: sink, events: make([]event.Event, b.N), took: make([]time.Duration, b.N)}
	for i := range h.events {
		h.events[i] = s.event(event.RoomUpdated, &event.RoomPayload{Room: event.Room{ID: roomID(0), Name: "Table"}})
	}
	return h
}

// run sends the i-th event and waits until the other instance applied it.
func (h *hop) run(b *testing.B, i int) {
	start := time.Now()
	if _, err := h.from.hub.Ingest(context.Background(), batchOf(h.events[i])); err != nil {
		b.Fatal(err)
	}
	if pos := <-h.to.applied; pos != h.events[i].Position() {
		b.Fatalf("applied %v, want %v", pos, h.events[i].Position())
	}
	h.took[i] = time.Since(start)
}
