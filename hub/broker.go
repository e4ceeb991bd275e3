package hub

import (
	"context"
	"slices"
	"sync"

	"github.com/spellcoven/gateway/event"
)

// Broker sequences and distributes events between the edge instances that share them. See the package
// documentation for how a Redis broker implements it.
type Broker interface {
	// Attach restores sink to the shared state (Sink.Restore), then delivers to it, in order and each
	// once, every event admitted from then on by any instance (Sink.Apply), until detach is called.
	// It returns once the state is restored; ctx bounds that start-up only.
	Attach(ctx context.Context, sink Sink) (detach func(), err error)
	// Publish admits records, a batch of one epoch in seq order, against the shared position as Admit
	// does, atomically with storing the new ones, and makes them reach every attached sink. It returns
	// the counts, a *SnapshotRequiredError, or an error wrapping ErrUnavailable when the broker cannot
	// be reached. Records are read-only and may be kept.
	Publish(ctx context.Context, records []*Record) (IngestResult, error)
	// Err reports why the broker cannot publish or deliver now, or nil when it can. The error must not
	// carry credentials (such as a password in a connection URL): health endpoints show it.
	Err() error
}

// Sink receives a broker's deliveries. The hub implements it; a broker calls it from one goroutine at
// a time.
type Sink interface {
	// Restore replaces the receiver's state. Subscribers that were following the previous state are
	// closed with 1012 so that they resume from the restored one.
	Restore(State)
	// Apply applies records admitted after the last ones delivered or restored and hands them to
	// subscribers. Records are read-only and may be kept.
	Apply(records []*Record)
	// State returns the receiver's current state, for a broker to checkpoint or to restore another
	// sink from.
	State() State
	// BrokerStatus tells the receiver whether the broker can publish and deliver: false once it has
	// lost its connection, true once it delivers again. Subscribers stay connected and are told.
	BrokerStatus(available bool)
}

// State is a hub's state at one position, as brokers save and restore it.
type State struct {
	// Position is that of the last event applied; zero when nothing is held.
	Position event.Position
	// Rooms is the projection at Position.
	Rooms *event.SnapshotPayload
	// Discord is the last Discord link state reported by system.status, "" if none.
	Discord string
	// History holds the most recent events up to Position, oldest first, for clients that resume.
	History []*Record
}

// MemoryBroker is the broker of a single edge instance: it admits batches against its own position and
// delivers them synchronously to its sinks. Several hubs of one process may share it (tests do); a hub
// attaching late is restored from one already attached. Once every hub has detached, the state is gone
// and the next batch must start with a snapshot again.
type MemoryBroker struct {
	mu    sync.Mutex
	last  event.Position
	sinks []Sink
}

// NewMemoryBroker returns a broker that holds nothing.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// Attach restores sink from the first sink attached, if any, and adds it to the receivers.
func (b *MemoryBroker) Attach(ctx context.Context, sink Sink) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := State{}
	if len(b.sinks) > 0 {
		st = b.sinks[0].State()
	}
	sink.Restore(st)
	b.sinks = append(b.sinks, sink)
	var once sync.Once
	return func() { once.Do(func() { b.detach(sink) }) }, nil
}

func (b *MemoryBroker) detach(sink Sink) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.sinks, sink); i >= 0 {
		b.sinks = slices.Delete(b.sinks, i, i+1)
	}
	if len(b.sinks) == 0 {
		b.last = event.Position{}
	}
}

// Publish admits records and applies the new ones to every sink before returning, so that the order
// of deliveries is the order of admission.
func (b *MemoryBroker) Publish(ctx context.Context, records []*Record) (IngestResult, error) {
	if err := ctx.Err(); err != nil {
		return IngestResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	skipped, err := Admit(b.last, records)
	if err != nil {
		return IngestResult{}, err
	}
	fresh := records[skipped:]
	if len(fresh) > 0 {
		for _, s := range b.sinks {
			s.Apply(fresh)
		}
		b.last = fresh[len(fresh)-1].pos
	}
	return IngestResult{Applied: len(fresh), Skipped: skipped}, nil
}

// Err returns nil: memory is always reachable.
func (b *MemoryBroker) Err() error { return nil }

var _ Broker = (*MemoryBroker)(nil)
