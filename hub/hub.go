package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/spellcoven/gateway/event"
)

// Hub lifecycle states.
const (
	stateNew int32 = iota
	stateRunning
	stateClosed
)

// Hub holds the projection and history of one edge instance and streams events to its subscribers.
// Its methods are safe for concurrent use.
type Hub struct {
	cfg    Config
	logger *zap.Logger
	broker Broker

	lifecycle sync.Mutex // serializes Start and Close
	state     atomic.Int32
	detach    func()
	stop      chan struct{} // closed by Close to stop the shard workers
	settled   chan struct{} // closed once Start has succeeded or failed, or Close was called
	settle    sync.Once
	workers   sync.WaitGroup
	closers   sync.WaitGroup // goroutines calling Conn.Close, which may block on a close handshake

	// writeCtx is passed to every Conn.Write, so that writes need no context of their own; Close
	// cancels it once subscribers had their chance to close cleanly.
	writeCtx    context.Context
	cancelWrite context.CancelFunc

	// mu orders the projection, the history and the shard queues: an event is applied, recorded and
	// handed to the shards in one critical section, and Subscribe registers in one, so a subscriber
	// gets each event either from its hello (history or snapshot) or live, exactly once.
	mu      sync.Mutex
	last    event.Position
	proj    projection
	history history
	hello   *Record // snapshot hello at last, encoded once for every client that connects; nil when stale
	// brokerDown is set while the broker reports itself unavailable; subscribers that connect
	// meanwhile get brokerUnavailableFrame after their hello.
	brokerDown bool

	shards    []*shard
	nextShard atomic.Uint32

	subscribers atomic.Int64
	ingested    atomic.Uint64
	skipped     atomic.Uint64
	evicted     atomic.Uint64
	lastIngest  atomic.Int64 // unix nanoseconds
}

// New returns a hub with cfg's limits (zero fields take defaults) over broker, or over a private
// MemoryBroker when broker is nil. A nil logger discards logs. Start it before use.
func New(cfg Config, broker Broker, logger *zap.Logger) (*Hub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if broker == nil {
		broker = NewMemoryBroker()
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	h := &Hub{
		cfg:     cfg,
		logger:  logger,
		broker:  broker,
		stop:    make(chan struct{}),
		settled: make(chan struct{}),
		proj:    newProjection(),
		history: newHistory(cfg.HistorySize),
		shards:  make([]*shard, cfg.Shards),
	}
	h.writeCtx, h.cancelWrite = context.WithCancel(context.Background())
	for i := range h.shards {
		h.shards[i] = newShard(h)
	}
	return h, nil
}

// Start starts the fan-out workers and attaches the hub to its broker, which restores the shared
// state. ctx bounds the start-up only; the hub runs until Close.
func (h *Hub) Start(ctx context.Context) error {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.state.Load() != stateNew {
		return errors.New("hub: Start called twice or after Close")
	}
	for _, sh := range h.shards {
		h.workers.Add(1)
		go sh.run(h.stop)
	}
	defer h.settle.Do(func() { close(h.settled) })
	detach, err := h.broker.Attach(ctx, (*hubSink)(h))
	if err != nil {
		close(h.stop)
		h.workers.Wait()
		h.state.Store(stateClosed)
		h.cancelWrite()
		return fmt.Errorf("hub: attaching to the broker: %w", err)
	}
	h.detach = detach
	h.mu.Lock()
	h.state.Store(stateRunning)
	h.mu.Unlock()
	return nil
}

// Close detaches the hub from its broker, closes every subscriber with 1012 (restarting) so that
// clients reconnect and resume, and stops the workers. It waits up to WriteTimeout for writes in
// flight and close handshakes. Later calls do nothing.
func (h *Hub) Close() error {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	defer h.settle.Do(func() { close(h.settled) })
	h.mu.Lock()
	prev := h.state.Swap(stateClosed) // Subscribe and Apply check it under mu
	h.mu.Unlock()
	if prev != stateRunning {
		h.cancelWrite()
		return nil
	}
	h.detach()
	close(h.stop)
	h.workers.Wait()
	// The workers are stopped and no Subscribe can register: every live subscription is in a shard's
	// list or in an add still queued for it.
	for _, sh := range h.shards {
		for _, s := range sh.takeAll() {
			s.shutdown(CloseRestarting, "restarting")
		}
	}
	done := make(chan struct{})
	go func() {
		for _, sh := range h.shards {
			sh.writers.Wait()
		}
		h.closers.Wait()
		close(done)
	}()
	timer := time.NewTimer(h.cfg.WriteTimeout)
	defer timer.Stop()
	select {
	case <-done:
		h.cancelWrite()
		return nil
	case <-timer.C:
		h.cancelWrite() // a Conn that ignored Close may still honour its write context
		h.logger.Warn("hub closed with socket writes or closes still in flight", zap.Duration("waited", h.cfg.WriteTimeout))
		return errors.New("hub: closed with socket writes or closes still in flight")
	}
}

// Snapshot returns the position of the last applied event and a copy of the projection's rooms, in
// Discord's display order.
func (h *Hub) Snapshot() (event.Position, *event.SnapshotPayload) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.proj.snapshot()
}

// Room returns a copy of one room with its members.
func (h *Hub) Room(id string) (event.RoomState, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs, ok := h.proj.rooms[id]
	if !ok {
		return event.RoomState{}, false
	}
	return rs.state(), true
}

// Ingest applies a validated batch (see event.DecodeBatch) through the broker. It returns the counts of
// new and already held events; a *SnapshotRequiredError when the batch does not continue what is held
// (see Admit; in particular the very first batch must start with a snapshot event, since there is no
// projection to apply anything else to); an error wrapping ErrUnavailable when the broker cannot be
// reached or the hub is not running; or an *event.Error for a batch that is not of one epoch in seq
// order. A refused batch changes nothing.
func (h *Hub) Ingest(ctx context.Context, b *event.Batch) (IngestResult, error) {
	if err := h.running(); err != nil {
		return IngestResult{}, err
	}
	records, err := newRecords(b)
	if err != nil {
		return IngestResult{}, err
	}
	if len(records) == 0 {
		// An empty batch (the worker's keepalive) is accepted only by a hub that holds the worker's
		// epoch: one that holds nothing (a restarted edge) or another epoch asks for a snapshot, so
		// that the worker sends one now rather than when Discord next changes.
		h.mu.Lock()
		last := h.last
		h.mu.Unlock()
		if last.IsZero() || last.Epoch != b.Epoch {
			expected := event.Position{}
			if !last.IsZero() {
				expected = event.Position{Epoch: last.Epoch, Seq: last.Seq + 1}
			}
			return IngestResult{}, &SnapshotRequiredError{Expected: expected}
		}
	}
	res, err := h.broker.Publish(ctx, records)
	if err != nil {
		return IngestResult{}, err
	}
	h.skipped.Add(uint64(res.Skipped))
	h.lastIngest.Store(time.Now().UnixNano())
	return res, nil
}

// Settled returns a channel closed once the hub has started (Subscribe and Ingest then work), failed to
// start, or been closed. A server that accepts clients before its hub is started (Caddy starts its
// apps in no set order) waits on it rather than turn the first clients away.
func (h *Hub) Settled() <-chan struct{} { return h.settled }

func (h *Hub) running() error {
	switch h.state.Load() {
	case stateNew:
		return fmt.Errorf("%w: not started", ErrUnavailable)
	case stateClosed:
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	return nil
}

// closeConn calls c.Close on a goroutine of its own: a close handshake can take seconds, and whoever
// decided to close (a shard worker, the ingest path) must not wait for it.
func (h *Hub) closeConn(c Conn, code int, reason string) {
	h.closers.Add(1)
	go func() {
		defer h.closers.Done()
		c.Close(code, reason)
	}()
}
