package hub

import (
	"reflect"
	"testing"

	"github.com/spellcoven/gateway/event"
)

func TestSubscribeResumeOrSnapshot(t *testing.T) {
	at := func(epoch string, seq uint64) *event.Position { return &event.Position{Epoch: epoch, Seq: seq} }
	// e1/1 snapshot, e1/2..10 updates; the history keeps the last 5 (e1/6..10).
	base := append([]event.Event{snapshotEvent(t, "e1", 1)}, roomEvents(t, "e1", 2, 10)...)
	tests := []struct {
		name       string
		more       []event.Event // ingested after base
		resume     *event.Position
		wantHello  frame    // Snapshot not compared
		wantMissed []uint64 // event seqs after the hello
	}{
		{
			name:      "no resume position gets a snapshot",
			resume:    nil,
			wantHello: frame{Type: "hello", Epoch: "e1", Seq: 10},
		},
		{
			name:       "resume within the history gets exactly the missed events",
			resume:     at("e1", 7),
			wantHello:  frame{Type: "hello", Resumed: true, Epoch: "e1", Seq: 7},
			wantMissed: seqRange(8, 10),
		},
		{
			name:       "resume from the oldest position the history covers",
			resume:     at("e1", 5),
			wantHello:  frame{Type: "hello", Resumed: true, Epoch: "e1", Seq: 5},
			wantMissed: seqRange(6, 10),
		},
		{
			name:      "resume at the current position misses nothing",
			resume:    at("e1", 10),
			wantHello: frame{Type: "hello", Resumed: true, Epoch: "e1", Seq: 10},
		},
		{
			name:      "resume older than the history gets a snapshot",
			resume:    at("e1", 4),
			wantHello: frame{Type: "hello", Epoch: "e1", Seq: 10},
		},
		{
			name:      "resume from another epoch gets a snapshot",
			resume:    at("e0", 7),
			wantHello: frame{Type: "hello", Epoch: "e1", Seq: 10},
		},
		{
			name:      "resume from a position never reached gets a snapshot",
			resume:    at("e1", 11),
			wantHello: frame{Type: "hello", Epoch: "e1", Seq: 10},
		},
		{
			name:      "resume from before a snapshot of a new epoch gets a snapshot",
			more:      append([]event.Event{snapshotEvent(t, "e2", 1)}, roomEvents(t, "e2", 2, 3)...),
			resume:    at("e1", 9),
			wantHello: frame{Type: "hello", Epoch: "e2", Seq: 3},
		},
		{
			name: "resume from before a snapshot that skipped ahead gets a snapshot",
			// The history could hold e1/9..13 but 11 never came: resuming across the skip is refused.
			more:      []event.Event{snapshotEvent(t, "e1", 12), roomEvents(t, "e1", 13, 13)[0]},
			resume:    at("e1", 9),
			wantHello: frame{Type: "hello", Epoch: "e1", Seq: 13},
		},
		{
			name:       "resume across a snapshot that continued the epoch replays the snapshot",
			more:       []event.Event{snapshotEvent(t, "e1", 11), roomEvents(t, "e1", 12, 12)[0]},
			resume:     at("e1", 9),
			wantHello:  frame{Type: "hello", Resumed: true, Epoch: "e1", Seq: 9},
			wantMissed: seqRange(10, 12),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHub(t, Config{HistorySize: 5}, nil)
			mustIngest(t, h, base...)
			if tt.more != nil {
				mustIngest(t, h, tt.more...)
			}
			c := newTestConn()
			subscribe(t, h, tt.resume, c)
			got := c.waitFrames(t, 1+len(tt.wantMissed))
			hello := got[0]
			if hello.Resumed != (hello.Snapshot == nil) {
				t.Errorf("hello resumed=%v with snapshot %v: a snapshot comes exactly when not resuming", hello.Resumed, hello.Snapshot)
			}
			hello.Snapshot, hello.Data = nil, nil
			if !reflect.DeepEqual(hello, tt.wantHello) {
				t.Errorf("hello = %v, want %v", hello, tt.wantHello)
			}
			if missed := seqs(got[1:]); !reflect.DeepEqual(missed, tt.wantMissed) {
				t.Errorf("missed events = %v, want %v", missed, tt.wantMissed)
			}

			// The next live event follows, once.
			last, _ := h.Snapshot()
			mustIngest(t, h, roomEvents(t, last.Epoch, last.Seq+1, last.Seq+1)...)
			all := c.waitFrames(t, len(got)+1)
			if f := all[len(got)]; f.Seq != last.Seq+1 || f.Epoch != last.Epoch {
				t.Errorf("live event = %v, want %s/%d", f, last.Epoch, last.Seq+1)
			}
			_, frames, _ := c.snapshot()
			if len(frames) != len(got)+1 {
				t.Errorf("%d frames arrived, want %d: %v", len(frames), len(got)+1, frames)
			}
		})
	}
}

func TestSnapshotHelloCarriesTheProjection(t *testing.T) {
	h := startHub(t, Config{}, nil)
	c := newTestConn()
	subscribe(t, h, nil, c)
	// A hub that holds nothing says the state is unknown, rather than showing an empty world as real.
	if hello := c.waitFrames(t, 1)[0]; hello.Seq != 0 || hello.Epoch != "" || hello.State != StateUnknown || hello.Snapshot != nil {
		t.Errorf("hello from an empty hub = %v %+v, want position zero, state unknown and no snapshot", hello, hello.Snapshot)
	}

	rooms := []event.RoomState{{Room: room("11", "A", 0), Members: []event.Member{member("101")}}}
	mustIngest(t, h, snapshotEvent(t, "e1", 1, rooms...), mustEvent(t, "e1", 2, event.VoiceJoined, &event.VoiceMemberPayload{RoomID: "11", Member: member("202")}))
	c2 := newTestConn()
	subscribe(t, h, nil, c2)
	hello := c2.waitFrames(t, 1)[0]
	_, want := h.Snapshot()
	if hello.Seq != 2 || !reflect.DeepEqual(hello.Snapshot, want) {
		t.Errorf("hello = %v with %+v, want seq 2 with %+v", hello, hello.Snapshot, want)
	}
}
