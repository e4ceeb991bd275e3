package hub

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/spellcoven/gateway/event"
)

func TestIngestSequencing(t *testing.T) {
	snap := func(epoch string, seq uint64) event.Event { return snapshotEvent(t, epoch, seq) }
	held := append([]event.Event{snap("e1", 1)}, roomEvents(t, "e1", 2, 4)...) // e1/1..4
	tests := []struct {
		name     string
		setup    []event.Event // ingested first, as one batch
		batch    []event.Event
		want     IngestResult
		wantErr  error          // compared with errors.Is, or a *SnapshotRequiredError by value
		wantLast event.Position // position held afterwards
		// emptyEpoch is the epoch of the empty batch sent when batch is nil (default e1).
		emptyEpoch string
	}{
		{
			name:     "first batch starting with a snapshot is applied",
			batch:    append([]event.Event{snap("e1", 1)}, roomEvents(t, "e1", 2, 3)...),
			want:     IngestResult{Applied: 3},
			wantLast: event.Position{Epoch: "e1", Seq: 3},
		},
		{
			name:    "first batch without a snapshot requires one",
			batch:   roomEvents(t, "e1", 1, 2),
			wantErr: &SnapshotRequiredError{},
		},
		{
			name:     "first batch may start anywhere in the epoch if it is a snapshot",
			batch:    []event.Event{snap("e1", 40)},
			want:     IngestResult{Applied: 1},
			wantLast: event.Position{Epoch: "e1", Seq: 40},
		},
		{
			name:     "continuation is applied",
			setup:    held,
			batch:    roomEvents(t, "e1", 5, 6),
			want:     IngestResult{Applied: 2},
			wantLast: event.Position{Epoch: "e1", Seq: 6},
		},
		{
			name:     "replay of held events is skipped",
			setup:    held,
			batch:    roomEvents(t, "e1", 2, 4),
			want:     IngestResult{Skipped: 3},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
		{
			name:     "replay of a held snapshot is skipped, not re-applied",
			setup:    held,
			batch:    []event.Event{snap("e1", 1)},
			want:     IngestResult{Skipped: 1},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
		{
			name:     "overlap applies only the new tail",
			setup:    held,
			batch:    roomEvents(t, "e1", 3, 7),
			want:     IngestResult{Applied: 3, Skipped: 2},
			wantLast: event.Position{Epoch: "e1", Seq: 7},
		},
		{
			name:     "gap requires a snapshot at the next position",
			setup:    held,
			batch:    roomEvents(t, "e1", 6, 7),
			wantErr:  &SnapshotRequiredError{Expected: event.Position{Epoch: "e1", Seq: 5}},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
		{
			name:     "snapshot after a gap resets within the epoch",
			setup:    held,
			batch:    append([]event.Event{snap("e1", 9)}, roomEvents(t, "e1", 10, 10)...),
			want:     IngestResult{Applied: 2},
			wantLast: event.Position{Epoch: "e1", Seq: 10},
		},
		{
			name:     "snapshot continuing the epoch is applied like any event",
			setup:    held,
			batch:    []event.Event{snap("e1", 5)},
			want:     IngestResult{Applied: 1},
			wantLast: event.Position{Epoch: "e1", Seq: 5},
		},
		{
			name:     "unknown epoch without a snapshot requires one",
			setup:    held,
			batch:    roomEvents(t, "e2", 1, 2),
			wantErr:  &SnapshotRequiredError{Expected: event.Position{Epoch: "e1", Seq: 5}},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
		{
			name:     "new epoch starting with a snapshot replaces the old one",
			setup:    held,
			batch:    append([]event.Event{snap("e2", 1)}, roomEvents(t, "e2", 2, 2)...),
			want:     IngestResult{Applied: 2},
			wantLast: event.Position{Epoch: "e2", Seq: 2},
		},
		{
			name:     "empty batch changes nothing",
			setup:    held,
			batch:    nil,
			want:     IngestResult{},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
		{
			// A restarted edge holds nothing: the worker's keepalive must bring a snapshot at once.
			name:    "empty batch to a hub that holds nothing requires a snapshot",
			batch:   nil,
			wantErr: &SnapshotRequiredError{},
		},
		{
			name:       "empty batch of another epoch requires a snapshot",
			setup:      held,
			batch:      nil,
			emptyEpoch: "e2",
			wantErr:    &SnapshotRequiredError{Expected: event.Position{Epoch: "e1", Seq: 5}},
			wantLast:   event.Position{Epoch: "e1", Seq: 4},
		},
		{
			name:     "batch mixing epochs is invalid",
			setup:    held,
			batch:    []event.Event{roomEvents(t, "e1", 5, 5)[0], roomEvents(t, "e2", 6, 6)[0]},
			wantErr:  &event.Error{},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
		{
			name:     "batch with a hole inside is invalid",
			setup:    held,
			batch:    []event.Event{roomEvents(t, "e1", 5, 5)[0], roomEvents(t, "e1", 7, 7)[0]},
			wantErr:  &event.Error{},
			wantLast: event.Position{Epoch: "e1", Seq: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHub(t, Config{}, nil)
			if tt.setup != nil {
				mustIngest(t, h, tt.setup...)
			}
			_, roomsBefore := h.Snapshot()
			b := batchOf(tt.batch...)
			if tt.batch == nil {
				b = &event.Batch{Epoch: "e1", Events: []event.Event{}}
				if tt.emptyEpoch != "" {
					b.Epoch = tt.emptyEpoch
				}
			}
			got, err := h.Ingest(context.Background(), b)
			checkIngestError(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
			last, rooms := h.Snapshot()
			if last != tt.wantLast {
				t.Errorf("position = %v, want %v", last, tt.wantLast)
			}
			if tt.wantErr != nil && !reflect.DeepEqual(rooms, roomsBefore) {
				t.Errorf("a refused batch changed the rooms: %+v, was %+v", rooms, roomsBefore)
			}
		})
	}
}

func checkIngestError(t *testing.T, err, want error) {
	t.Helper()
	var wantSR *SnapshotRequiredError
	var wantVE *event.Error
	switch {
	case want == nil:
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
	case errors.As(want, &wantSR):
		var sr *SnapshotRequiredError
		if !errors.As(err, &sr) || *sr != *wantSR {
			t.Fatalf("err = %v, want %v", err, want)
		}
	case errors.As(want, &wantVE):
		var ve *event.Error
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want an *event.Error", err)
		}
	default:
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
	}
}

func TestSnapshotRequiredErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *SnapshotRequiredError
		want string
	}{
		{"nothing held", &SnapshotRequiredError{}, "snapshot_required: nothing is held yet; the first batch must start with a snapshot event"},
		{"position held", &SnapshotRequiredError{Expected: event.Position{Epoch: "e1", Seq: 5}}, "snapshot_required: expected e1/5 or a snapshot event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIngestWhenNotRunning(t *testing.T) {
	tests := []struct {
		name  string
		start bool
		close bool
	}{
		{"before Start", false, false},
		{"after Close", true, true},
		{"after Close without Start", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Config{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.start {
				if err := h.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if tt.close {
				h.Close()
			}
			defer h.Close()
			if _, err := h.Ingest(context.Background(), batchOf(snapshotEvent(t, "e1", 1))); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Ingest: err = %v, want ErrUnavailable", err)
			}
			if _, err := h.Subscribe(nil, newTestConn()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Subscribe: err = %v, want ErrUnavailable", err)
			}
			if h.Health().OK {
				t.Error("Health().OK = true for a hub that is not running")
			}
		})
	}
}

func TestIngestInvalidPayloadNamesTheEvent(t *testing.T) {
	h := startHub(t, Config{}, nil)
	e := snapshotEvent(t, "e1", 1)
	bad := roomEvents(t, "e1", 2, 2)[0]
	bad.Data = []byte(`{"room":{"id":"x","name":"n","user_limit":0,"position":0}}`)
	_, err := h.Ingest(context.Background(), batchOf(e, bad))
	var ve *event.Error
	if !errors.As(err, &ve) || ve.Path != "events[1].data.room.id" {
		t.Fatalf("err = %v, want an *event.Error at events[1].data.room.id", err)
	}
	if last, _ := h.Snapshot(); !last.IsZero() {
		t.Errorf("position = %v after a refused batch, want none", last)
	}
}
