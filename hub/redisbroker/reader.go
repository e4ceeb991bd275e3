package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/internal/backoff"
)

const (
	// blockFor is how long one read of the stream waits for new entries before asking again. go-redis
	// gives such a read 10 s more than this before it takes the connection for dead, which bounds how
	// long a silently broken connection goes unnoticed.
	blockFor = 5 * time.Second
	// firstRetry is the longest first wait before reaching Redis again; it doubles up to
	// ReconnectInterval (each wait drawn from the upper half: internal/backoff).
	firstRetry = 50 * time.Millisecond
	// catchUpAttempts bounds how often catching up starts over because another instance changed Redis
	// at the same moment.
	catchUpAttempts = 5
)

// reader delivers the stream to one sink, from a goroutine of its own, over a connection of its own so
// that detaching can interrupt its blocking read by closing it.
type reader struct {
	b      *Broker
	sink   hub.Sink
	client redis.UniversalClient
	logger *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the reader goroutine, and by catchUp before it starts.
	lastID   streamID       // the last entry delivered
	lastPos  event.Position // the sink's position after it
	ckPos    event.Position // position of the newest checkpoint known to be in Redis
	down     bool           // the sink was told that the broker is unavailable
	needSync bool           // reading failed: check the stream still continues lastID first

	mu        sync.Mutex
	delivered streamID      // lastID, for Publish to wait on
	progress  chan struct{} // closed and replaced when delivered moves or err changes
	err       error         // why the reader cannot read, nil while it can
}

func newReader(b *Broker, sink hub.Sink) *reader {
	r := &reader{
		b:    b,
		sink: sink,
		// Pools of 2: the blocking read, and catching up or checkpointing between reads. No retries:
		// a read retried on a new connection could land on a Redis restarted empty (or a replica
		// promoted without the last writes) and wait there as if nothing happened; every failure must
		// reach run, which checks the stream before reading on.
		client:   b.cfg.newClient(2, -1),
		logger:   b.logger,
		done:     make(chan struct{}),
		progress: make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

func (r *reader) start() { go r.run() }

// stop ends the reader: closing its connection interrupts a blocking read at once.
func (r *reader) stop() {
	r.cancel()
	r.client.Close()
	<-r.done
}

func (r *reader) run() {
	defer close(r.done)
	policy := backoff.Policy{Initial: firstRetry, Max: r.b.cfg.ReconnectInterval}
	failures := 0 // consecutive failed resyncs
	for r.ctx.Err() == nil {
		if r.needSync {
			if err := r.resync(); err != nil {
				r.fail(err)
				if !r.sleep(policy.Delay(failures)) {
					return
				}
				failures++
				continue
			}
			failures = 0
			r.recovered()
		}
		streams, err := r.client.XRead(r.ctx, &redis.XReadArgs{
			Streams: []string{r.b.keys.stream, r.lastID.String()},
			Count:   int64(r.b.cfg.ReadCount),
			Block:   blockFor,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.fail(err)
			if !r.sleep(policy.Delay(failures)) {
				return
			}
			continue
		}
		for _, s := range streams {
			r.deliver(s.Messages)
		}
	}
}

// deliver hands entries read after lastID to the sink, or catches up when they do not continue what
// it holds (this instance fell behind and the stream was trimmed past it, or Redis was seeded anew).
func (r *reader) deliver(msgs []redis.XMessage) {
	if len(msgs) == 0 {
		return
	}
	last, err := parseStreamID(msgs[len(msgs)-1].ID)
	if err != nil {
		r.fail(err)
		return
	}
	entries := decodeEntries(msgs, r.skip)
	if len(entries) > 0 && !follows(r.lastPos, entries[0].rec) {
		r.logger.Warn("the stream does not continue what this instance delivered; catching up",
			zap.Stringer("delivered", r.lastPos), zap.Stringer("next", entries[0].rec.Position()))
		if err := r.catchUp(r.ctx); err != nil {
			r.fail(err)
		}
		return
	}
	recs := records(entries)
	if len(recs) > 0 {
		r.sink.Apply(recs)
	}
	r.advance(last, recs)
	r.maybeCheckpoint()
}

// advance records that the entries up to id, holding recs, were handed to the sink.
func (r *reader) advance(id streamID, recs []*hub.Record) {
	for _, rec := range recs {
		if rec.Type() == event.Snapshot {
			r.ckPos = rec.Position() // the publish script stored the checkpoint with it
		}
	}
	if n := len(recs); n > 0 {
		r.lastPos = recs[n-1].Position()
	}
	r.lastID = id
	r.mu.Lock()
	r.delivered = id
	r.notifyLocked()
	r.mu.Unlock()
}

func (r *reader) notifyLocked() {
	close(r.progress)
	r.progress = make(chan struct{})
}

// deliveredUpTo reports whether the reader delivered the entry id or cannot read now; otherwise it
// returns a channel closed at the reader's next progress.
func (r *reader) deliveredUpTo(id streamID) (bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.delivered.less(id) || r.err != nil {
		return true, nil
	}
	return false, r.progress
}

// maybeCheckpoint stores the sink's projection once CheckpointInterval events were delivered since the
// newest checkpoint known. Every instance does so at the same positions; the script keeps the first.
func (r *reader) maybeCheckpoint() {
	if r.lastPos.IsZero() || (r.lastPos.Epoch == r.ckPos.Epoch && r.lastPos.Seq < r.ckPos.Seq+uint64(r.b.cfg.CheckpointInterval)) {
		return
	}
	st := r.sink.State()
	rooms, err := json.Marshal(roomsOf(st))
	if err != nil {
		r.logger.Error("encoding a checkpoint", zap.Error(err))
		return
	}
	err = checkpointScript.Run(r.ctx, r.client, []string{r.b.keys.checkpoint, r.b.keys.stream},
		r.lastID.String(), st.Position.Epoch, strconv.FormatUint(st.Position.Seq, 10), rooms, st.Discord).Err()
	if err != nil && r.ctx.Err() == nil {
		// Not fatal: the previous checkpoint stays usable; the next interval tries again.
		r.logger.Warn("storing a checkpoint failed", zap.Stringer("position", st.Position), zap.Error(r.b.describe(err)))
		return
	}
	r.ckPos = r.lastPos
}

// resync runs after reading failed. If the stream still holds the last entry delivered, reading goes on
// from it; otherwise the sink catches up as at Attach.
func (r *reader) resync() error {
	// A plain command on the head goes through the connection pools that the blocking read and
	// Publish use (pipelines have their own), to the node that holds the keys: after failed dials
	// go-redis fails a pool fast until a dial in the background succeeds, and Redis must not be
	// reported back before reading and publishing work.
	for _, c := range []redis.UniversalClient{r.client, r.b.client} {
		if err := c.Exists(r.ctx, r.b.keys.head).Err(); err != nil {
			return err
		}
	}
	if r.lastID != zeroID {
		var found *redis.XMessageSliceCmd
		var headed *redis.IntCmd
		_, err := r.client.Pipelined(r.ctx, func(p redis.Pipeliner) error {
			found = p.XRange(r.ctx, r.b.keys.stream, r.lastID.String(), r.lastID.String())
			headed = p.Exists(r.ctx, r.b.keys.head)
			return nil
		})
		if err != nil {
			return err
		}
		if len(found.Val()) == 1 && headed.Val() == 1 {
			return nil
		}
		r.logger.Warn("the stream no longer holds what this instance delivered last; catching up", zap.Stringer("delivered", r.lastPos))
	}
	return r.catchUp(r.ctx)
}

// catchUp brings the sink to what Redis holds (see plan) and sets where reading continues.
func (r *reader) catchUp(ctx context.Context) error {
	for range catchUpAttempts {
		rs, err := r.b.readRedis(ctx, r.client, r.skip)
		if err != nil {
			return err
		}
		local := r.sink.State()
		p := plan(rs, local)
		r.ckPos = rs.ck.pos
		switch p.kind {
		case planSeed:
			last, ok, err := r.b.seed(ctx, r.client, p.headID, local)
			if err != nil {
				return err
			}
			if !ok {
				continue // another instance wrote first: follow what it wrote
			}
			r.logger.Warn("Redis held nothing to continue from; wrote this instance's state to it",
				zap.Stringer("position", local.Position), zap.Int("history", len(unbrokenHistory(local, r.b.cfg.StreamLength))))
			r.lastPos, r.ckPos = local.Position, local.Position
			r.advance(last, nil)
			return nil
		case planReset:
			r.logger.Error("Redis holds events that no checkpoint or snapshot leads to; forgetting them so that the worker sends a snapshot",
				zap.Stringer("head", rs.head.pos))
			if err := r.b.reset(ctx, r.client, p.headID); err != nil {
				return err
			}
			continue
		case planRestore:
			r.sink.Restore(p.state)
			r.lastPos = p.state.Position
			if !p.state.Position.IsZero() || len(p.tail) > 0 {
				r.logger.Info("restored from Redis", zap.Stringer("checkpoint", p.state.Position), zap.Int("replayed", len(p.tail)))
			}
		case planContinue:
			r.lastPos = local.Position
		}
		if len(p.tail) > 0 {
			r.sink.Apply(p.tail)
		}
		r.advance(p.lastID, p.tail)
		return nil
	}
	return errors.New("redisbroker: Redis changed under every attempt to catch up with it")
}

// fail records that the reader cannot read, and tells the sink once.
func (r *reader) fail(err error) {
	err = r.b.describe(err)
	r.mu.Lock()
	r.err = err
	r.notifyLocked()
	r.mu.Unlock()
	r.needSync = true
	if !r.down {
		r.down = true
		r.logger.Warn("lost Redis: no events are delivered or accepted until it is back; clients stay connected", zap.Error(err))
		r.sink.BrokerStatus(false)
	}
}

// recovered records that the reader reads again, and tells the sink once.
func (r *reader) recovered() {
	r.mu.Lock()
	r.err = nil
	r.mu.Unlock()
	r.b.setPublishErr(nil) // a publish that failed during the outage would otherwise be reported until the next one
	if r.down {
		r.down = false
		r.logger.Info("Redis is back; delivery resumed", zap.Stringer("position", r.lastPos))
		r.sink.BrokerStatus(true)
	}
}

func (r *reader) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// sleep waits d, or less if the reader is stopped; it reports whether the reader is still running.
func (r *reader) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *reader) skip(id string, err error) {
	r.logger.Error("skipping what Redis holds at "+id+": it is not valid", zap.Error(err))
}
