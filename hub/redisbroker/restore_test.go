package redisbroker

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

// TestPlan states how an instance catches up with what Redis holds, for every shape that Redis and
// the instance may be in.
func TestPlan(t *testing.T) {
	// The stream holds e1/1-10 at entry ids 100-0 .. 109-0; e1/1 and e1/6 are snapshots.
	recs := recordsAt(t, "e1", 1, 10, 1, 6)
	stream := make([]entry, len(recs))
	for i, r := range recs {
		stream[i] = entry{id: streamID{ms: uint64(100 + i)}, rec: r}
	}
	at := func(seq uint64) event.Position { return event.Position{Epoch: "e1", Seq: seq} }
	headAt10 := head{id: "109-0", pos: at(10), discord: "up"}
	ckAt := func(seq uint64) checkpoint {
		return checkpoint{id: streamID{ms: 99 + seq}, pos: at(seq), rooms: &event.SnapshotPayload{Rooms: []event.RoomState{}}, discord: "down"}
	}
	holding := func(seq uint64) hub.State { return hub.State{Position: at(seq)} }
	seqsOf := func(rs []*hub.Record) []uint64 {
		var out []uint64
		for _, r := range rs {
			out = append(out, r.Position().Seq)
		}
		return out
	}

	cases := []struct {
		name  string
		redis snapshotOfRedis
		local hub.State
		// want
		kind        planKind
		restoreTo   event.Position
		history     []uint64
		tail        []uint64
		lastID      streamID
		headID      string
		discord     string
		roomsFromCk bool
	}{
		{name: "Redis and the instance hold nothing: start from nothing",
			kind: planRestore, lastID: zeroID},
		{name: "Redis came back empty: seed it with the instance's state",
			local: holding(10), kind: planSeed, headID: ""},
		{name: "the instance is at the head: go on",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, entries: stream},
			local: holding(10), kind: planContinue, lastID: streamID{ms: 109}},
		{name: "the instance's position is in the stream: apply what follows",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, entries: stream},
			local: holding(7), kind: planContinue, tail: []uint64{8, 9, 10}, lastID: streamID{ms: 109}},
		{name: "a late instance restores from the checkpoint and replays the rest",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, ck: ckAt(8), hasCheckpoint: true, entries: stream},
			kind:  planRestore, restoreTo: at(8), history: seqsFrom(1, 8), tail: []uint64{9, 10}, lastID: streamID{ms: 109}, discord: "down", roomsFromCk: true},
		{name: "an instance the stream was trimmed past restores too",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, ck: ckAt(8), hasCheckpoint: true, entries: stream[5:]},
			local: holding(3), kind: planRestore, restoreTo: at(8), history: seqsFrom(6, 8), tail: []uint64{9, 10}, lastID: streamID{ms: 109}, discord: "down", roomsFromCk: true},
		{name: "the checkpoint's entry was trimmed but everything after it is there",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, ck: ckAt(4), hasCheckpoint: true, entries: stream[4:]},
			kind:  planRestore, restoreTo: at(4), tail: seqsFrom(5, 10), lastID: streamID{ms: 109}, discord: "down", roomsFromCk: true},
		{name: "entries after the checkpoint are missing: restore from the last snapshot",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, ck: ckAt(2), hasCheckpoint: true, entries: stream[4:]},
			kind:  planRestore, tail: seqsFrom(6, 10), lastID: streamID{ms: 109}, discord: "up"},
		{name: "no checkpoint: restore from the last snapshot",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, entries: stream},
			kind:  planRestore, tail: seqsFrom(6, 10), lastID: streamID{ms: 109}, discord: "up"},
		{name: "a checkpoint at the head with an empty stream is a whole state",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, ck: ckAt(10), hasCheckpoint: true},
			kind:  planRestore, restoreTo: at(10), lastID: streamID{ms: 109}, discord: "down", roomsFromCk: true},
		{name: "the instance is ahead of the head in its epoch (Redis lost events): its state replaces it",
			redis: snapshotOfRedis{head: head{id: "104-0", pos: at(5), discord: "up"}, hasHead: true, ck: ckAt(5), hasCheckpoint: true, entries: stream[:5]},
			local: holding(10), kind: planSeed, headID: "104-0"},
		{name: "the instance is ahead in another epoch: it follows Redis",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, ck: ckAt(8), hasCheckpoint: true, entries: stream},
			local: hub.State{Position: event.Position{Epoch: "e0", Seq: 99}}, kind: planRestore, restoreTo: at(8), history: seqsFrom(1, 8), tail: []uint64{9, 10}, lastID: streamID{ms: 109}, discord: "down", roomsFromCk: true},
		{name: "nothing leads to the head: the instance's state replaces it",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, entries: stream[6:]},
			local: holding(3), kind: planSeed, headID: "109-0"},
		{name: "nothing leads to the head and nothing to seed: forget it",
			redis: snapshotOfRedis{head: headAt10, hasHead: true, entries: stream[6:]},
			kind:  planReset, headID: "109-0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(tc.redis, tc.local)
			if p.kind != tc.kind {
				t.Fatalf("kind = %d, want %d", p.kind, tc.kind)
			}
			if tc.kind == planSeed || tc.kind == planReset {
				if p.headID != tc.headID {
					t.Errorf("headID = %q, want %q", p.headID, tc.headID)
				}
				return
			}
			if p.lastID != tc.lastID {
				t.Errorf("lastID = %s, want %s", p.lastID, tc.lastID)
			}
			if got := seqsOf(p.tail); !reflect.DeepEqual(got, tc.tail) {
				t.Errorf("tail = %v, want %v", got, tc.tail)
			}
			if tc.kind != planRestore {
				return
			}
			if p.state.Position != tc.restoreTo || p.state.Discord != tc.discord {
				t.Errorf("restores to %v (Discord %q), want %v (%q)", p.state.Position, p.state.Discord, tc.restoreTo, tc.discord)
			}
			if got := seqsOf(p.state.History); !reflect.DeepEqual(got, tc.history) {
				t.Errorf("history = %v, want %v", got, tc.history)
			}
			if (p.state.Rooms != nil) != tc.roomsFromCk {
				t.Errorf("rooms = %v, want them from the checkpoint: %v", p.state.Rooms, tc.roomsFromCk)
			}
		})
	}
}

func seqsFrom(from, to uint64) []uint64 { return seqRange(from, to) }

func TestStreamIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want streamID
		ok   bool
	}{
		{"0-0", streamID{}, true},
		{"1732550400000-3", streamID{1732550400000, 3}, true},
		{"18446744073709551615-18446744073709551615", streamID{1<<64 - 1, 1<<64 - 1}, true},
		{"12", streamID{}, false},
		{"a-1", streamID{}, false},
		{"1-", streamID{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseStreamID(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("parseStreamID(%q) = %v, %v", tc.in, got, err)
			}
			if tc.ok && got.String() != tc.in {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
	if !(streamID{1, 9}).less(streamID{2, 0}) || !(streamID{2, 0}).less(streamID{2, 1}) || (streamID{2, 1}).less(streamID{2, 1}) {
		t.Error("less does not order ids as Redis does")
	}
}

func TestUnbrokenHistory(t *testing.T) {
	recs := append(recordsAt(t, "e0", 5, 6, 5), recordsAt(t, "e1", 1, 5, 1)...)
	for _, tc := range []struct {
		name  string
		st    hub.State
		max   int
		wants string
	}{
		{"stops at an epoch change", hub.State{Position: event.Position{Epoch: "e1", Seq: 5}, History: recs}, 100, "[e1/1 e1/2 e1/3 e1/4 e1/5]"},
		{"keeps at most max", hub.State{Position: event.Position{Epoch: "e1", Seq: 5}, History: recs}, 2, "[e1/4 e1/5]"},
		{"none when the history does not end at the position", hub.State{Position: event.Position{Epoch: "e1", Seq: 9}, History: recs}, 100, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range unbrokenHistory(tc.st, tc.max) {
				got = append(got, r.Position().String())
			}
			if s := fmt.Sprint(got); s != tc.wants {
				t.Errorf("got %s, want %s", s, tc.wants)
			}
		})
	}
}
