// Package delivery sends the worker's outbox to the edge's webhook ingest, in order, each event
// until the edge has it.
//
// The delivery loop reads the events after the outbox's cursor in batches (at most MaxBatchEvents
// events and MaxBatchBytes of JSON), signs every attempt afresh and POSTs it to the edge, then acts
// on the answer (docs/protocol.md, "Webhook: worker → edge"):
//
//   - 2xx: the events are applied (or were already held): the cursor moves past them.
//   - 409 snapshot_required: the edge lost track (it restarted, or a batch was dead-lettered). The
//     newest snapshot waiting in the outbox, or else a fresh one the producer appends, becomes the
//     next event to deliver; the events before it that the edge never got are superseded, and
//     counted as such.
//   - 400, 413, 422: something in the batch is refused. The batch is halved until the refused event
//     is alone, which goes to the dead-letter store; the others are delivered.
//   - 401, 403 even with a fresh signature, and any other 4xx: the batch goes to the dead-letter store.
//   - 5xx, 408, 425, 429, or no answer: retried after an exponential backoff with jitter, at least
//     the edge's Retry-After (up to the backoff's maximum).
//
// Dead-lettered events leave a gap the edge notices on the next batch (409), so a snapshot follows
// them and the edge converges on Discord's state. When nothing is pending, an empty batch every
// Keepalive keeps the edge's "last delivery" fresh, which its health endpoint reports.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/deadletter"
	"github.com/spellcoven/gateway/worker/metrics"
	"github.com/spellcoven/gateway/worker/outbox"
)

// Defaults of Config.
const (
	DefaultMaxBatchEvents = 100
	DefaultMaxBatchBytes  = 512 << 10
	// DefaultTimeout bounds one delivery attempt: a batch of the default size is applied in
	// milliseconds, and an edge that stalls (behind a round-robin balancer, one of several) holds the
	// in-order delivery for at most this long before the attempt goes to another.
	DefaultTimeout        = 5 * time.Second
	DefaultBackoffInitial = 250 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultKeepalive      = 30 * time.Second
)

// Config configures delivery.
type Config struct {
	// URL is the edge's ingest, e.g. https://app.example.com/internal/events.
	URL string
	// Signer signs each attempt.
	Signer *webhook.Signer
	// Client sends the requests; nil means a client of its own. Each attempt is bounded by Timeout.
	Client *http.Client
	// MaxBatchEvents and MaxBatchBytes bound one batch (defaults 100 events, 512 KiB of events);
	// keep MaxBatchBytes under the edge's request body limit.
	MaxBatchEvents int
	MaxBatchBytes  int64
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Backoff spaces retries (default 250 ms doubling to 30 s).
	Backoff backoff.Policy
	// Keepalive is how long the loop stays silent with nothing to deliver before it sends an empty
	// batch (default 30 s).
	Keepalive time.Duration
	// Logger receives delivery logs. Nil discards.
	Logger *slog.Logger
}

// Snapshotter appends a snapshot of the worker's current state to the outbox.
type Snapshotter interface {
	// AppendSnapshot appends a snapshot event and returns its seq, or the seq of one already
	// pending (appended since the caller looked). It fails while the worker does not know the
	// guild's state.
	AppendSnapshot(reason string) (uint64, error)
}

// Deliverer is the delivery loop. Run it once; its other methods are safe for concurrent use.
type Deliverer struct {
	cfg  Config
	ob   *outbox.Outbox
	dl   *deadletter.Store
	snap Snapshotter
	m    *metrics.Metrics
	log  *slog.Logger

	lastSuccess atomic.Int64 // unix nanoseconds of the last 2xx
	failures    int          // consecutive attempts without an answer that settles the batch
	// narrow bounds the batch size while a refused batch is being split, up to narrowUntil.
	narrow      int
	narrowUntil uint64
}

// New checks cfg, fills in defaults and returns a delivery loop over ob.
func New(cfg Config, ob *outbox.Outbox, dl *deadletter.Store, snap Snapshotter, m *metrics.Metrics) (*Deliverer, error) {
	if cfg.URL == "" || cfg.Signer == nil || ob == nil || dl == nil || snap == nil || m == nil {
		return nil, errors.New("delivery: URL, Signer, outbox, dead-letter store, snapshotter and metrics are required")
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = DefaultMaxBatchEvents
	}
	cfg.MaxBatchEvents = min(cfg.MaxBatchEvents, event.DefaultMaxBatchEvents)
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Backoff.Initial <= 0 {
		cfg.Backoff.Initial = DefaultBackoffInitial
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	cfg.Backoff.Max = max(cfg.Backoff.Max, cfg.Backoff.Initial)
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = DefaultKeepalive
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{cfg: cfg, ob: ob, dl: dl, snap: snap, m: m, log: cfg.Logger}, nil
}

// LastSuccess returns when the edge last answered 2xx; zero before the first time.
func (d *Deliverer) LastSuccess() time.Time {
	if n := d.lastSuccess.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Run delivers until ctx is cancelled. An attempt under way when ctx ends is finished (bounded by
// Timeout), so its answer moves the cursor and the outbox stays consistent with the edge.
func (d *Deliverer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		wait, wake := d.step(ctx, true)
		if wait <= 0 {
			continue
		}
		var woken <-chan struct{}
		if wake {
			woken = d.ob.Appended()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-woken:
		case <-t.C:
		}
		t.Stop()
	}
}

// Drain delivers what is pending until nothing is or ctx ends, for a graceful stop.
func (d *Deliverer) Drain(ctx context.Context) error {
	for d.ob.Stats().PendingEvents > 0 {
		wait, _ := d.step(ctx, false)
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("delivery: %d events still pending: %w", d.ob.Stats().PendingEvents, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// step makes one attempt and says how long to wait before the next, and whether an append should
// end that wait early (it should when idle, not when backing off).
func (d *Deliverer) step(ctx context.Context, keepalive bool) (time.Duration, bool) {
	// The attempt outlives ctx: see Run.
	reqCtx := context.WithoutCancel(ctx)
	st := d.ob.Stats()
	if st.PendingEvents == 0 {
		if !keepalive {
			return 0, false
		}
		if idle := time.Since(d.LastSuccess()); idle < d.cfg.Keepalive {
			return d.cfg.Keepalive - idle, true
		}
		a := d.post(reqCtx, encodeBatch(st.Epoch, nil), messageID(st.Epoch, nil))
		switch a.verdict {
		case delivered:
			d.m.Attempts.WithLabelValues("keepalive").Inc()
			d.succeeded()
			return d.cfg.Keepalive, true
		case snapshotRequired:
			// The edge holds nothing of this epoch (it restarted, say): it shows its clients an unknown
			// state until a snapshot arrives, so one goes now.
			d.m.Attempts.WithLabelValues("snapshot_required").Inc()
			return d.resync(nil, a), false
		}
		return d.failed(a, nil), false
	}

	limit := d.cfg.MaxBatchEvents
	if d.narrow > 0 && st.Cursor < d.narrowUntil {
		limit = d.narrow
	} else {
		d.narrow = 0
	}
	recs, err := d.ob.Read(st.Cursor+1, limit, d.cfg.MaxBatchBytes)
	if err != nil || len(recs) == 0 {
		d.log.Error("delivery: reading the outbox", "error", err)
		return d.backoff(0), false
	}
	a := d.post(reqCtx, encodeBatch(st.Epoch, recs), messageID(st.Epoch, recs))
	last := recs[len(recs)-1].Seq
	switch a.verdict {
	case delivered:
		d.m.Attempts.WithLabelValues("delivered").Inc()
		d.m.Delivered.Add(float64(a.applied))
		d.m.Skipped.Add(float64(a.skipped))
		d.succeeded()
		if _, err := d.ob.Ack(last); err != nil {
			d.log.Error("delivery: saving the outbox cursor", "error", err)
		}
		return 0, false
	case snapshotRequired:
		d.m.Attempts.WithLabelValues("snapshot_required").Inc()
		return d.resync(recs, a), false
	case rejected:
		d.m.Attempts.WithLabelValues("rejected").Inc()
		if len(recs) > 1 {
			// Halve the batch until the refused event is alone; the others pass.
			d.narrow, d.narrowUntil = len(recs)/2, max(d.narrowUntil, last)
			d.log.Warn("delivery: the edge refused a batch; splitting it to find the refused events",
				"first", recs[0].Seq, "last", last, "status", a.status, "code", a.code, "message", a.message)
			return 0, false
		}
		return d.deadLetter(st.Epoch, recs, a), false
	case unauthorized, refused:
		d.m.Attempts.WithLabelValues(map[verdict]string{unauthorized: "unauthorized", refused: "refused"}[a.verdict]).Inc()
		return d.deadLetter(st.Epoch, recs, a), false
	default:
		return d.failed(a, recs), false
	}
}

func (d *Deliverer) succeeded() {
	now := time.Now()
	d.lastSuccess.Store(now.UnixNano())
	d.m.LastDelivery.Set(float64(now.UnixNano()) / 1e9)
	if d.failures > 0 {
		d.log.Info("delivery: the edge is reachable again", "failed_attempts", d.failures)
	}
	d.failures = 0
}

// failed handles an attempt to retry later and returns the wait.
func (d *Deliverer) failed(a answer, recs []outbox.Record) time.Duration {
	result := "retry"
	if a.status == 0 {
		result = "error"
	}
	d.m.Attempts.WithLabelValues(result).Inc()
	wait := d.backoff(a.retryAfter)
	// Log the first failure and then ever more rarely, so a long outage does not flood the logs.
	if n := d.failures; n&(n-1) == 0 {
		args := []any{"attempt", n, "status", a.status, "retry_in", wait.Round(time.Millisecond), "pending", d.ob.Stats().PendingEvents}
		if a.err != nil {
			args = append(args, "error", a.err.Error())
		}
		if a.message != "" {
			args = append(args, "message", a.message)
		}
		if len(recs) > 0 {
			args = append(args, "first", recs[0].Seq)
		}
		d.log.Warn("delivery: the edge did not take the batch; retrying", args...)
	}
	return wait
}

// backoff counts a failed attempt and returns the wait before the next, at least floor.
func (d *Deliverer) backoff(floor time.Duration) time.Duration {
	wait := max(d.cfg.Backoff.Delay(d.failures), min(floor, d.cfg.Backoff.Max))
	d.failures++
	return wait
}

// resync answers a 409: deliver from the newest pending snapshot, or from a fresh one.
func (d *Deliverer) resync(recs []outbox.Record, a answer) time.Duration {
	if len(recs) > 0 && recs[0].Type == event.Snapshot {
		// A batch led by a snapshot is always acceptable; an edge refusing it is broken.
		d.log.Error("delivery: the edge asks for a snapshot but refused a batch that starts with one; retrying",
			"seq", recs[0].Seq, "expected", a.expected)
		return d.backoff(a.retryAfter)
	}
	seq, ok := d.ob.LatestSnapshot()
	reason := "pending"
	if !ok {
		var err error
		seq, err = d.snap.AppendSnapshot("snapshot_required")
		if err != nil {
			d.log.Warn("delivery: the edge asks for a snapshot, which cannot be made yet; retrying", "error", err.Error())
			return d.backoff(a.retryAfter)
		}
		reason = "new"
	}
	covered, err := d.ob.Ack(seq - 1)
	if err != nil {
		d.log.Error("delivery: saving the outbox cursor", "error", err)
	}
	d.m.Superseded.WithLabelValues("snapshot_required").Add(float64(covered))
	d.log.Warn("delivery: the edge asked for a snapshot; delivering from one",
		"expected", a.expected, "snapshot_seq", seq, "snapshot", reason, "superseded", covered)
	return 0
}

// deadLetter stores a refused batch and moves past it. When the store cannot take it, the batch
// stays in the outbox and is retried later: nothing is dropped.
func (d *Deliverer) deadLetter(epoch string, recs []outbox.Record, a answer) time.Duration {
	id := fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(epoch, ".", "_"), recs[0].Seq, recs[len(recs)-1].Seq)
	letter := deadletter.Letter{ID: id, At: time.Now().UTC(), Status: a.status, Code: a.code, Message: a.message}
	for _, r := range recs {
		letter.Events = append(letter.Events, r.JSON)
	}
	if err := d.dl.Put(letter); err != nil {
		d.log.Error("delivery: the edge refused events and the dead-letter store cannot take them; they stay in the outbox",
			"letter", id, "status", a.status, "error", err.Error())
		return d.backoff(0)
	}
	if _, err := d.ob.Ack(recs[len(recs)-1].Seq); err != nil {
		d.log.Error("delivery: saving the outbox cursor", "error", err)
	}
	d.m.DeadLettered.WithLabelValues(strconv.Itoa(a.status)).Add(float64(len(recs)))
	d.log.Error("delivery: the edge refused events; they are in the dead-letter store",
		"letter", id, "events", len(recs), "status", a.status, "code", a.code, "message", a.message, "store", d.dl.Dir())
	d.failures = 0
	return 0
}
