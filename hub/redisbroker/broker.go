package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

// Broker is a hub.Broker over Redis. Its methods are safe for concurrent use. New connects lazily:
// nothing touches the network before Attach or Publish.
type Broker struct {
	cfg    Config
	client redis.UniversalClient // commands; each reader has a client of its own
	keys   keys
	logger *zap.Logger

	mu         sync.Mutex
	readers    []*reader
	closed     bool
	publishErr error // why the last Publish could not reach Redis; nil after one that could
}

// keys are the broker's Redis keys.
type keys struct{ head, stream, checkpoint string }

// list returns the keys in the order the scripts take them.
func (k keys) list() []string { return []string{k.head, k.stream, k.checkpoint} }

// New returns a broker configured by cfg, or an error naming what is invalid (never containing the
// password). A nil logger discards logs.
func New(cfg Config, logger *zap.Logger) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	where := cfg.where()
	if cfg.URL != "" {
		where = redacted(cfg.URL)
	}
	tag := cfg.keyTag()
	b := &Broker{
		cfg:    cfg,
		keys:   keys{head: tag + "head", stream: tag + "stream", checkpoint: tag + "checkpoint"},
		logger: logger.With(zap.String("redis", where)),
	}
	b.client = cfg.newClient(0, 0)
	return b, nil
}

// Client returns the broker's command client, for other state that edges sharing this Redis must
// agree on (the rooms API's, package rooms/redisstore), under KeyPrefix. Closing the broker closes
// it.
func (b *Broker) Client() redis.UniversalClient { return b.client }

// KeyPrefix is what every key of the deployment starts with: Config.KeyPrefix (its default applied)
// in braces, the hash tag that keeps all the keys in one Redis Cluster slot. Other state kept beside
// the broker's must start its keys with it too.
func (b *Broker) KeyPrefix() string { return b.cfg.keyTag() }

// Attach restores sink to what Redis holds, then starts delivering to it every event admitted from then
// on. It returns once the sink has caught up, or an error wrapping hub.ErrUnavailable when Redis cannot
// be reached within ctx and the configured timeouts.
func (b *Broker) Attach(ctx context.Context, sink hub.Sink) (func(), error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: the Redis broker is closed", hub.ErrUnavailable)
	}
	r := newReader(b, sink)
	if err := r.catchUp(ctx); err != nil {
		r.client.Close()
		return nil, fmt.Errorf("%w: %v", hub.ErrUnavailable, b.describe(err))
	}
	if r.lastPos.IsZero() {
		b.warnUnrenamedKeys(ctx, r.client)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		r.client.Close()
		return nil, fmt.Errorf("%w: the Redis broker is closed", hub.ErrUnavailable)
	}
	b.readers = append(b.readers, r)
	b.mu.Unlock()
	r.start()
	var once sync.Once
	return func() { once.Do(func() { b.detach(r) }) }, nil
}

// warnUnrenamedKeys logs when Redis holds nothing under the broker's keys but the head of edges from
// before hash tags (the prefix without braces): the deployment was upgraded without renaming its keys,
// and starts over from the worker's next snapshot (docs/scaling.md, "Upgrading from keys without
// braces").
func (b *Broker) warnUnrenamedKeys(ctx context.Context, c redis.UniversalClient) {
	old := b.cfg.KeyPrefix + "head"
	if n, err := c.Exists(ctx, old).Result(); err == nil && n == 1 {
		b.logger.Warn("Redis holds "+old+", the head of edges from before hash tags, and nothing under "+b.keys.head+
			": rename the keys (docs/scaling.md, Upgrading from keys without braces) or the worker's next snapshot starts the stream over",
			zap.String("old_key", old), zap.String("key", b.keys.head))
	}
}

func (b *Broker) detach(r *reader) {
	b.mu.Lock()
	b.readers = slices.DeleteFunc(b.readers, func(x *reader) bool { return x == r })
	b.mu.Unlock()
	r.stop()
}

// Publish admits records against the head in Redis and appends the new ones to the stream, atomically
// (see the package documentation). When some were new, it waits up to ReadTimeout for this instance's
// readers to deliver them, so that an acknowledged batch is visible here.
func (b *Broker) Publish(ctx context.Context, records []*hub.Record) (hub.IngestResult, error) {
	if len(records) == 0 {
		// Nothing to store: answer as a batch would be answered, without a round trip.
		if err := b.Err(); err != nil {
			return hub.IngestResult{}, fmt.Errorf("%w: %v", hub.ErrUnavailable, err)
		}
		return hub.IngestResult{}, nil
	}
	// While a reader of this instance has not caught up with Redis again, events it accepted would not
	// reach its clients, and a Redis that came back empty may not be seeded yet.
	if err := b.readersErr(); err != nil {
		return hub.IngestResult{}, fmt.Errorf("%w: %v", hub.ErrUnavailable, err)
	}
	args, err := publishArgs(b.cfg.StreamLength, records)
	if err != nil {
		return hub.IngestResult{}, err
	}
	reply, err := publishScript.Run(ctx, b.client, b.keys.list(), args...).Slice()
	if err != nil {
		if ctx.Err() != nil {
			return hub.IngestResult{}, fmt.Errorf("%w: %v", hub.ErrUnavailable, ctx.Err())
		}
		err = b.describe(err)
		b.setPublishErr(err)
		b.logger.Warn("publishing events failed", zap.Error(err))
		return hub.IngestResult{}, fmt.Errorf("%w: %v", hub.ErrUnavailable, err)
	}
	b.setPublishErr(nil)
	res, last, err := parsePublishReply(reply)
	if err != nil {
		return hub.IngestResult{}, err
	}
	if res.Applied > 0 {
		b.awaitDelivery(ctx, last)
	}
	return res, nil
}

// publishArgs builds publishScript's arguments, checking the shape that the script relies on.
func publishArgs(streamLength int, records []*hub.Record) ([]any, error) {
	first := records[0].Position()
	args := make([]any, 0, 3+4*len(records))
	args = append(args, streamLength, first.Epoch, strconv.FormatUint(first.Seq-1, 10))
	for i, r := range records {
		pos := r.Position()
		if pos.Epoch != first.Epoch || pos.Seq != first.Seq+uint64(i) || pos.Seq == 0 {
			return nil, fmt.Errorf("redisbroker: records must be of one epoch with consecutive seqs from 1 up; record %d is at %s after %s", i, pos, first)
		}
		kind, extra := kindEvent, ""
		switch r.Type() {
		case event.Snapshot, event.SystemStatus:
			e, err := event.Decode(r.Frame())
			if err != nil {
				return nil, fmt.Errorf("redisbroker: record at %s: %w", pos, err)
			}
			if r.Type() == event.Snapshot {
				kind, extra = kindSnapshot, string(e.Data)
			} else {
				p, err := e.Payload()
				if err != nil {
					return nil, fmt.Errorf("redisbroker: record at %s: %w", pos, err)
				}
				kind, extra = kindStatus, p.(*event.SystemStatusPayload).Discord
			}
		}
		args = append(args, strconv.FormatUint(pos.Seq, 10), kind, extra, r.Frame())
	}
	return args, nil
}

// parsePublishReply reads publishScript's answer.
func parsePublishReply(reply []any) (hub.IngestResult, streamID, error) {
	bad := fmt.Errorf("redisbroker: unexpected answer from the publish script: %v", reply)
	if len(reply) == 0 {
		return hub.IngestResult{}, streamID{}, bad
	}
	if ok, _ := reply[0].(int64); ok == 0 {
		if len(reply) < 3 {
			return hub.IngestResult{}, streamID{}, &hub.SnapshotRequiredError{}
		}
		epoch, _ := reply[1].(string)
		seq, err := strconv.ParseUint(fmt.Sprint(reply[2]), 10, 64)
		if err != nil || epoch == "" {
			return hub.IngestResult{}, streamID{}, bad
		}
		return hub.IngestResult{}, streamID{}, &hub.SnapshotRequiredError{Expected: event.Position{Epoch: epoch, Seq: seq + 1}}
	}
	if len(reply) < 4 {
		return hub.IngestResult{}, streamID{}, bad
	}
	applied, ok1 := reply[1].(int64)
	skipped, ok2 := reply[2].(int64)
	if !ok1 || !ok2 {
		return hub.IngestResult{}, streamID{}, bad
	}
	res := hub.IngestResult{Applied: int(applied), Skipped: int(skipped)}
	if res.Applied == 0 {
		return res, streamID{}, nil
	}
	last, err := parseStreamID(fmt.Sprint(reply[3]))
	if err != nil {
		return hub.IngestResult{}, streamID{}, bad
	}
	return res, last, nil
}

// awaitDelivery waits until every reader of this broker delivered up to id, or ReadTimeout passed, or
// ctx ended. A reader that cannot read is not waited for: the events are safe in Redis either way.
func (b *Broker) awaitDelivery(ctx context.Context, id streamID) {
	b.mu.Lock()
	readers := slices.Clone(b.readers)
	b.mu.Unlock()
	if len(readers) == 0 {
		return
	}
	timer := time.NewTimer(b.cfg.ReadTimeout)
	defer timer.Stop()
	for _, r := range readers {
		for {
			done, progress := r.deliveredUpTo(id)
			if done {
				break
			}
			select {
			case <-progress:
				continue
			case <-timer.C:
				return
			case <-ctx.Done():
				return
			}
		}
	}
}

// Err reports why the broker cannot deliver or publish now: a reader that lost Redis, or the last
// Publish that could not reach it. It never carries the password.
func (b *Broker) Err() error {
	if err := b.readersErr(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.publishErr
}

// readersErr returns the error of a reader that cannot read now, if any.
func (b *Broker) readersErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.readers {
		if err := r.failure(); err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) setPublishErr(err error) {
	b.mu.Lock()
	b.publishErr = err
	b.mu.Unlock()
}

// describe returns err as reported to operators: with the Redis address, never with the password.
func (b *Broker) describe(err error) error {
	msg := err.Error()
	secret := b.cfg.URL != "" && containsSecret(msg, b.cfg.URL)
	for _, s := range b.cfg.secrets() {
		secret = secret || strings.Contains(msg, s)
	}
	if secret {
		msg = "the Redis error mentions credentials and is not shown"
	}
	return fmt.Errorf("redis %s: %s", b.cfg.where(), msg)
}

// Close detaches every sink still attached and closes the connections. Later calls do nothing.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	readers := b.readers
	b.readers = nil
	b.mu.Unlock()
	for _, r := range readers {
		r.stop()
	}
	if err := b.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}

var _ hub.Broker = (*Broker)(nil)
