package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
)

var testTime = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

func TestHandEncodedBatchesAreValidContractBatches(t *testing.T) {
	smallest := len(memberPayload(0, false, 0))
	tests := []struct {
		name    string
		payload int
		first   uint64
		n       int
	}{
		{"one event of the default size", DefaultPayloadBytes, 2, 1},
		{"a batch of the smallest payloads", smallest, 2, 100},
		{"a batch of the largest payloads", smallest + maxPadding, 1000, 17},
		{"a full batch", DefaultPayloadBytes, 123456789, MaxBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := newBatchEncoder(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			body := enc.appendBatch(nil, tt.first, tt.n, testTime)
			batch, err := event.DecodeBatch(body, MaxBatch)
			if err != nil {
				t.Fatalf("the edge's decoder refuses the batch: %v\n%.300s", err, body)
			}
			if len(batch.Events) != tt.n || batch.Epoch != benchEpoch {
				t.Fatalf("batch of %d events of epoch %q, want %d of %q", len(batch.Events), batch.Epoch, tt.n, benchEpoch)
			}
			for i, e := range batch.Events {
				if e.Seq != tt.first+uint64(i) || e.Type != event.VoiceUpdated {
					t.Fatalf("event %d is %s seq %d, want voice.updated seq %d", i, e.Type, e.Seq, tt.first+uint64(i))
				}
				if len(e.Data) != tt.payload {
					t.Fatalf("event %d carries %d bytes of data, want %d", i, len(e.Data), tt.payload)
				}
				if !e.TS.Equal(testTime.Truncate(time.Millisecond)) {
					t.Fatalf("event %d is stamped %v, want %v", i, e.TS, testTime.Truncate(time.Millisecond))
				}
			}
		})
	}
}

func TestPayloadSizesOutOfRangeAreRefused(t *testing.T) {
	smallest := len(memberPayload(0, false, 0))
	for _, size := range []int{-1, 0, smallest - 1, smallest + maxPadding + 1} {
		if _, err := newBatchEncoder(size); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("payload of %d bytes: %v, want an out of range error", size, err)
		}
	}
}

func TestTheSnapshotHoldsEveryMemberTheEventsUpdate(t *testing.T) {
	body, err := snapshotBody(DefaultPayloadBytes, testTime)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := event.DecodeBatch(body, 1)
	if err != nil {
		t.Fatalf("the edge's decoder refuses the snapshot: %v", err)
	}
	p, err := batch.Events[0].Payload()
	if err != nil {
		t.Fatal(err)
	}
	snap := p.(*event.SnapshotPayload)
	if len(snap.Rooms) != 1 || snap.Rooms[0].ID != benchRoomID || len(snap.Rooms[0].Members) != benchMembers {
		t.Fatalf("snapshot %+v, want room %s with %d members", snap, benchRoomID, benchMembers)
	}
	enc, err := newBatchEncoder(DefaultPayloadBytes)
	if err != nil {
		t.Fatal(err)
	}
	updates, err := event.DecodeBatch(enc.appendBatch(nil, 2, 2*benchMembers, testTime), MaxBatch)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range updates.Events {
		p, err := e.Payload()
		if err != nil {
			t.Fatal(err)
		}
		u := p.(*event.VoiceMemberPayload)
		if u.RoomID != benchRoomID || !hasMember(snap.Rooms[0].Members, u.Member.UserID) {
			t.Fatalf("seq %d updates %s in room %s, which the snapshot does not hold", e.Seq, u.Member.UserID, u.RoomID)
		}
	}
}

func hasMember(ms []event.Member, id string) bool {
	for _, m := range ms {
		if m.UserID == id {
			return true
		}
	}
	return false
}
