package hub

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/spellcoven/gateway/event"
)

// TestSharedBrokerDeliversToEveryHub runs three hubs on one MemoryBroker, as edge instances share a
// Redis broker: a batch ingested through any of them reaches the subscribers of all, and a hub started
// late is restored with the projection and the history, so that clients resume on it.
func TestSharedBrokerDeliversToEveryHub(t *testing.T) {
	broker := NewMemoryBroker()
	a := startHub(t, Config{}, broker)
	b := startHub(t, Config{}, broker)
	onA, onB := newTestConn(), newTestConn()
	subscribe(t, a, nil, onA)
	subscribe(t, b, nil, onB)

	rooms := []event.RoomState{{Room: room("11", "A", 0), Members: []event.Member{}}}
	if res := mustIngest(t, a, snapshotEvent(t, "e1", 1, rooms...), roomEvents(t, "e1", 2, 2)[0]); res.Applied != 2 {
		t.Fatalf("ingest through a: %+v", res)
	}
	if res := mustIngest(t, b, roomEvents(t, "e1", 2, 4)...); res != (IngestResult{Applied: 2, Skipped: 1}) {
		t.Fatalf("ingest through b: %+v, want the event held through a skipped", res)
	}
	for name, c := range map[string]*testConn{"a": onA, "b": onB} {
		if got := seqs(c.waitFrames(t, 5)); !reflect.DeepEqual(got, seqRange(1, 4)) {
			t.Errorf("subscriber on %s got %v", name, got)
		}
	}

	late := startHub(t, Config{}, broker)
	posA, snapA := a.Snapshot()
	posLate, snapLate := late.Snapshot()
	if posLate != posA || !reflect.DeepEqual(snapLate, snapA) {
		t.Errorf("late hub holds %v %+v, want %v %+v", posLate, snapLate, posA, snapA)
	}
	c := newTestConn()
	subscribe(t, late, &event.Position{Epoch: "e1", Seq: 2}, c)
	mustIngest(t, a, roomEvents(t, "e1", 5, 5)...)
	got := c.waitFrames(t, 4)
	if !got[0].Resumed || !reflect.DeepEqual(seqs(got[1:]), seqRange(3, 5)) {
		t.Errorf("resume on the late hub got %v", got)
	}
	if st := late.Stats(); st.Ingested != 1 {
		t.Errorf("late hub Ingested = %d, want 1 (restored events are not counted)", st.Ingested)
	}
}

func TestMemoryBrokerForgetsOnceEveryHubDetached(t *testing.T) {
	broker := NewMemoryBroker()
	h, err := New(Config{}, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	h.Close()

	h2 := startHub(t, Config{}, broker)
	_, err = h2.Ingest(context.Background(), batchOf(roomEvents(t, "e1", 2, 2)...))
	var sr *SnapshotRequiredError
	if !errors.As(err, &sr) || !sr.Expected.IsZero() {
		t.Errorf("err = %v, want a snapshot required from nothing", err)
	}
}

// fakeBroker is a broker whose availability and deliveries the test controls.
type fakeBroker struct {
	err  error
	sink Sink
}

func (f *fakeBroker) Attach(_ context.Context, s Sink) (func(), error) {
	if f.err != nil {
		return nil, f.err
	}
	f.sink = s
	s.Restore(State{})
	return func() {}, nil
}

func (f *fakeBroker) Publish(context.Context, []*Record) (IngestResult, error) {
	if f.err != nil {
		return IngestResult{}, fmt.Errorf("%w: %v", ErrUnavailable, f.err)
	}
	return IngestResult{}, nil
}

func (f *fakeBroker) Err() error { return f.err }

func TestBrokerOutageIsReported(t *testing.T) {
	broker := &fakeBroker{}
	h := startHub(t, Config{}, broker)
	broker.err = errors.New("dial tcp 127.0.0.1:6379: connection refused")

	_, err := h.Ingest(context.Background(), batchOf(snapshotEvent(t, "e1", 1)))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ingest: err = %v, want ErrUnavailable", err)
	}
	hl := h.Health()
	if hl.OK || hl.Broker != BrokerUnavailable || hl.BrokerError != broker.err.Error() {
		t.Errorf("Health = %+v", hl)
	}
}

func TestStartFailsWhenTheBrokerCannotAttach(t *testing.T) {
	h, err := New(Config{}, &fakeBroker{err: errors.New("no route")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded without a broker")
	}
	if _, err := h.Subscribe(nil, newTestConn()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Subscribe after a failed Start: err = %v, want ErrUnavailable", err)
	}
}

func TestRestoreClosesSubscribersOfTheOldState(t *testing.T) {
	broker := &fakeBroker{}
	h := startHub(t, Config{}, broker)
	recs := make([]*Record, 0, 3)
	for _, e := range append([]event.Event{snapshotEvent(t, "e1", 1)}, roomEvents(t, "e1", 2, 3)...) {
		r, err := NewRecord(&e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	broker.sink.Apply(recs[:2])
	before := newTestConn()
	subscribe(t, h, nil, before)
	before.waitFrames(t, 1)

	// The broker lost continuity and restores a later state, e1/3, with its history.
	broker.sink.Restore(State{Position: recs[2].Position(), Rooms: &event.SnapshotPayload{Rooms: []event.RoomState{}}, History: recs})
	if code, _ := before.waitClosed(t); code != CloseRestarting {
		t.Errorf("subscriber of the old state closed with %d, want %d", code, CloseRestarting)
	}
	after := newTestConn()
	subscribe(t, h, &event.Position{Epoch: "e1", Seq: 1}, after)
	if got := after.waitFrames(t, 3); !got[0].Resumed || !reflect.DeepEqual(seqs(got[1:]), seqRange(2, 3)) {
		t.Errorf("resume from the restored history got %v", got)
	}
	if _, _, closes := after.snapshot(); closes != 0 {
		t.Error("a subscriber of the restored state was closed")
	}
}

// TestApplyGuardsAgainstABrokerBreakingItsContract delivers what a faulty broker might: an event
// twice, and an event that does not follow. The first is applied once; the second is applied but no
// client resumes across the hole, and it is logged as an error.
func TestApplyGuardsAgainstABrokerBreakingItsContract(t *testing.T) {
	broker := &fakeBroker{}
	h := startHub(t, Config{}, broker)
	record := func(e event.Event) *Record {
		r, err := NewRecord(&e)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	snap, second := record(snapshotEvent(t, "e1", 1)), record(roomEvents(t, "e1", 2, 2)[0])
	c := newTestConn()
	subscribe(t, h, nil, c)
	broker.sink.Apply([]*Record{snap, second})
	broker.sink.Apply([]*Record{second})
	broker.sink.Apply([]*Record{record(roomEvents(t, "e1", 5, 5)[0])}) // 3 and 4 never came

	if got := seqs(c.waitFrames(t, 4)); !reflect.DeepEqual(got, []uint64{1, 2, 5}) {
		t.Errorf("subscriber got %v, want each event once", got)
	}
	if st := h.Stats(); st.Ingested != 3 {
		t.Errorf("Ingested = %d, want 3", st.Ingested)
	}
	late := newTestConn()
	subscribe(t, h, &event.Position{Epoch: "e1", Seq: 2}, late)
	if hello := late.waitFrames(t, 1)[0]; hello.Resumed {
		t.Error("resumed across events that never came")
	}
}
