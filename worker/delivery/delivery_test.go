package delivery

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/ingest/ingesttest"
	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/deadletter"
	"github.com/spellcoven/gateway/worker/metrics"
	"github.com/spellcoven/gateway/worker/outbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	guild = "1100000000000000001"
	room  = "1200000000000000001"
)

// rig is an outbox, a dead-letter store and a deliverer aimed at a test edge.
type rig struct {
	t    *testing.T
	edge *ingesttest.Edge
	ob   *outbox.Outbox
	dl   *deadletter.Store
	m    *metrics.Metrics
	d    *Deliverer
	snap *snapshotter
}

// snapshotter appends an empty snapshot, as the producer would with no rooms.
type snapshotter struct {
	ob    *outbox.Outbox
	mu    sync.Mutex
	calls int
	fail  bool
}

func (s *snapshotter) AppendSnapshot(string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail {
		return 0, fmt.Errorf("not synced")
	}
	evs, err := s.ob.Append(time.Now(), outbox.Item{Type: event.Snapshot, Payload: event.SnapshotPayload{Rooms: []event.RoomState{{Room: event.Room{ID: room, Name: "Table"}, Members: []event.Member{}}}}})
	if err != nil {
		return 0, err
	}
	return evs[0].Seq, nil
}

func newRig(t *testing.T, mutate func(*Config)) *rig {
	t.Helper()
	edge := ingesttest.Start(t)
	ob, err := outbox.Open(t.TempDir(), outbox.Options{GuildID: guild})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	dl, err := deadletter.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := webhook.NewSigner(webhook.SchemeCoven, ingesttest.Secret)
	cfg := Config{URL: edge.URL(), Signer: signer, Backoff: backoff.Policy{Initial: time.Millisecond, Max: 20 * time.Millisecond}, Keepalive: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	r := &rig{t: t, edge: edge, ob: ob, dl: dl, m: metrics.New(), snap: &snapshotter{ob: ob}}
	r.d, err = New(cfg, ob, dl, r.snap, r.m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs the loop until the test ends.
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.d.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

// appendEvents appends a snapshot then n voice.joined events; seqs 1..n+1.
func (r *rig) appendEvents(n int) {
	r.t.Helper()
	if _, err := r.snap.AppendSnapshot("test"); err != nil {
		r.t.Fatal(err)
	}
	r.appendJoins(1, n)
}

func (r *rig) appendJoins(from, n int) {
	r.t.Helper()
	for i := from; i < from+n; i++ {
		_, err := r.ob.Append(time.Now(), outbox.Item{Type: event.VoiceJoined, Payload: event.VoiceMemberPayload{
			RoomID: room, Member: event.Member{UserID: fmt.Sprintf("13%017d", i), Username: fmt.Sprintf("p%d", i)}}})
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

// waitCursor waits until the outbox cursor reaches seq.
func (r *rig) waitCursor(seq uint64) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.ob.Stats().Cursor < seq {
		if time.Now().After(deadline) {
			r.t.Fatalf("cursor %d after 10s, want %d; requests %d", r.ob.Stats().Cursor, seq, len(r.edge.Requests()))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func appliedSeqs(evs []event.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestDeliversInOrderInBatches(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxBatchEvents = 40 })
	r.appendEvents(99) // seqs 1..100
	r.run()
	r.waitCursor(100)
	if got := appliedSeqs(r.edge.Applied()); fmt.Sprint(got) != fmt.Sprint(seqRange(1, 100)) {
		t.Fatalf("edge applied %v", got)
	}
	sizes := []int{}
	for _, req := range r.edge.Requests() {
		if !req.Verified || req.Status != http.StatusOK {
			t.Fatalf("request %+v", req)
		}
		sizes = append(sizes, len(req.Batch.Events))
	}
	if fmt.Sprint(sizes) != "[40 40 20]" {
		t.Fatalf("batch sizes %v", sizes)
	}
	if got := metrics.Value(r.m.Delivered); got != 100 {
		t.Fatalf("delivered metric %v", got)
	}
	if st := r.ob.Stats(); st.PendingEvents != 0 || st.PendingBytes != 0 {
		t.Fatalf("outbox after delivery %+v", st)
	}
}

func TestMaxBatchBytes(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxBatchBytes = 1000 })
	r.appendEvents(20)
	r.run()
	r.waitCursor(21)
	for _, req := range r.edge.Requests() {
		size := 0
		for _, e := range req.Batch.Events {
			raw, _ := e.Data.MarshalJSON()
			size += len(raw)
		}
		if len(req.Batch.Events) > 1 && size > 1000 {
			t.Fatalf("batch of %d events with %d bytes of data", len(req.Batch.Events), size)
		}
	}
}

func TestEdgeDownThenBack(t *testing.T) {
	r := newRig(t, nil)
	var down sync.Mutex
	isDown := true
	r.edge.SetFault(func(*event.Batch, int) (int, string) {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return http.StatusBadGateway, "bad gateway"
		}
		return 0, ""
	})
	r.appendEvents(5)
	r.run()
	time.Sleep(100 * time.Millisecond)
	r.appendJoins(50, 5)
	if c := r.ob.Stats().Cursor; c != 0 {
		t.Fatalf("cursor moved to %d while the edge was down", c)
	}
	down.Lock()
	isDown = false
	down.Unlock()
	r.waitCursor(11)
	if got := appliedSeqs(r.edge.Applied()); fmt.Sprint(got) != fmt.Sprint(seqRange(1, 11)) {
		t.Fatalf("applied %v", got)
	}
	if r.d.LastSuccess().IsZero() {
		t.Fatal("LastSuccess not set")
	}
}

func TestKeepaliveWhenIdle(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Keepalive = 20 * time.Millisecond })
	r.run()
	deadline := time.Now().Add(5 * time.Second)
	for {
		empty := 0
		for _, req := range r.edge.Requests() {
			if req.Verified && req.Batch != nil && len(req.Batch.Events) == 0 && req.Status == http.StatusOK {
				empty++
			}
		}
		if empty >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keepalives in 5s", empty)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAppendWakesTheIdleLoop(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Keepalive = time.Hour })
	r.run()
	// The first keepalive goes out at once; then the loop sleeps for an hour unless woken.
	deadline := time.Now().Add(5 * time.Second)
	for len(r.edge.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no keepalive at start")
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.appendEvents(0)
	r.waitCursor(1)
}

func TestFullDeadLetterStoreKeepsEvents(t *testing.T) {
	r := newRig(t, nil)
	dl, _ := deadletter.Open(t.TempDir(), 1)
	dl.Put(deadletter.Letter{ID: "x-1-1", Status: 400})
	r.d.dl = dl
	refuse := true
	var mu sync.Mutex
	r.edge.SetFault(func(*event.Batch, int) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return http.StatusBadRequest, `{"error":{"code":"invalid_batch","message":"no"}}`
		}
		return 0, ""
	})
	r.appendEvents(0)
	r.run()
	time.Sleep(100 * time.Millisecond)
	if st := r.ob.Stats(); st.Cursor != 0 || st.PendingEvents != 1 {
		t.Fatalf("event left the outbox though the dead-letter store is full: %+v", st)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	r.waitCursor(1)
}

// TestRunFinishesTheAttemptUnderWay stops the loop while the edge holds a request: the answer still
// moves the cursor.
func TestRunFinishesTheAttemptUnderWay(t *testing.T) {
	r := newRig(t, nil)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.edge.SetFault(func(*event.Batch, int) (int, string) {
		once.Do(func() { close(arrived); <-release })
		return 0, ""
	})
	r.appendEvents(2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.d.Run(ctx) }()
	<-arrived
	cancel()
	time.Sleep(20 * time.Millisecond)
	close(release)
	<-done
	if c := r.ob.Stats().Cursor; c != 3 {
		t.Fatalf("cursor %d after stop, want 3", c)
	}
}

func TestDrain(t *testing.T) {
	r := newRig(t, nil)
	r.appendEvents(3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.d.Drain(ctx); err != nil || r.ob.Stats().PendingEvents != 0 {
		t.Fatalf("Drain: %v, %+v", err, r.ob.Stats())
	}
	r.edge.SetFault(func(*event.Batch, int) (int, string) { return http.StatusServiceUnavailable, "" })
	r.appendJoins(10, 1)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.d.Drain(ctx); err == nil || !strings.Contains(err.Error(), "1 events still pending") {
		t.Fatalf("Drain with the edge down: %v", err)
	}
}

func TestNewRequiresItsParts(t *testing.T) {
	if _, err := New(Config{}, nil, nil, nil, nil); err == nil {
		t.Fatal("New accepted an empty config")
	}
}

// TestKeepaliveToARestartedEdgeSendsASnapshot: an edge that restarted holds nothing and answers the
// worker's keepalive (an empty batch) with 409 snapshot_required; the worker sends a snapshot at once
// instead of waiting for Discord to change.
func TestKeepaliveToARestartedEdgeSendsASnapshot(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Keepalive = 20 * time.Millisecond })
	r.appendEvents(3) // seqs 1..4
	r.run()
	r.waitCursor(4)
	r.edge.Restart()
	r.edge.WaitApplied(event.Position{Epoch: r.ob.Stats().Epoch, Seq: 5}, 10*time.Second)
	pos, snap := r.edge.Snapshot()
	if pos.Seq != 5 || len(snap.Rooms) != 1 || snap.Rooms[0].ID != room {
		t.Fatalf("the restarted edge holds %v %+v, want the new snapshot at seq 5", pos, snap)
	}
	if got := metrics.Value(r.m.Attempts.WithLabelValues("snapshot_required")); got < 1 {
		t.Fatalf("snapshot_required attempts %v", got)
	}
	var sawRefusedKeepalive bool
	for _, req := range r.edge.Requests() {
		if req.Batch != nil && len(req.Batch.Events) == 0 && req.Status == http.StatusConflict {
			sawRefusedKeepalive = true
		}
	}
	if !sawRefusedKeepalive {
		t.Fatal("no keepalive was answered 409")
	}
}
