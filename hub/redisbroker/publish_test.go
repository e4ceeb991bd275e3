package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// records builds records at epoch with seqs from..to; a seq listed in snapshots is a snapshot event.
func recordsAt(t *testing.T, epoch string, from, to uint64, snapshots ...uint64) []*hub.Record {
	t.Helper()
	var out []*hub.Record
	for seq := from; seq <= to && seq >= from; seq++ { // seq wraps to 0 after the largest uint64
		typ, p := event.Type(event.RoomUpdated), any(&event.RoomPayload{Room: event.Room{ID: roomID(0), Name: fmt.Sprintf("at %d", seq)}})
		for _, s := range snapshots {
			if s == seq {
				typ, p = event.Snapshot, &event.SnapshotPayload{Rooms: []event.RoomState{}}
			}
		}
		e, err := event.New(event.Position{Epoch: epoch, Seq: seq}, testGuild, time.Unix(1, 0), typ, p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hub.NewRecord(&e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestPublishAdmitsAsAdmitDoes runs the sequencing rules of hub.Admit through the Lua script: each
// case publishes batches in order on keys of its own and checks every answer against hub.Admit on the
// position it expects Redis to hold.
func TestPublishAdmitsAsAdmitDoes(t *testing.T) {
	srv := redistest.Start(t)
	const top = math.MaxUint64
	type batch struct {
		epoch     string
		from, to  uint64
		snapshots []uint64
	}
	cases := []struct {
		name    string
		batches []batch
	}{
		{"the first batch must start with a snapshot", []batch{{"e1", 1, 3, nil}, {"e1", 1, 3, []uint64{1}}}},
		{"a replay is skipped whole", []batch{{"e1", 1, 3, []uint64{1}}, {"e1", 1, 3, []uint64{1}}, {"e1", 2, 3, nil}}},
		{"an overlapping batch applies its tail", []batch{{"e1", 1, 3, []uint64{1}}, {"e1", 2, 6, nil}}},
		{"a gap needs a snapshot", []batch{{"e1", 1, 2, []uint64{1}}, {"e1", 5, 6, nil}, {"e1", 5, 6, []uint64{5}}}},
		{"a new epoch needs a snapshot", []batch{{"e1", 1, 2, []uint64{1}}, {"e2", 1, 2, nil}, {"e2", 1, 2, []uint64{1}}, {"e1", 3, 3, nil}}},
		{"a snapshot inside a replay does not reset", []batch{{"e1", 1, 4, []uint64{1}}, {"e1", 3, 5, []uint64{3}}}},
		{"an empty batch changes nothing", []batch{{"e1", 1, 0, nil}, {"e1", 1, 1, nil}}},
		// Lua numbers are doubles; seqs are compared as decimal strings so that these stay exact.
		{"seqs beyond 2^53 compare exactly", []batch{{"e1", 1 << 53, 1<<53 + 1, []uint64{1 << 53}}, {"e1", 1<<53 + 1, 1<<53 + 2, nil}, {"e1", 1<<53 + 4, 1<<53 + 4, nil}}},
		// The largest seq an event may carry is 2^64-2 (event refuses 2^64-1).
		{"seqs up to the largest allowed", []batch{{"e1", top - 3, top - 2, []uint64{top - 3}}, {"e1", top - 2, top - 1, nil}}},
		{"shorter seqs are smaller", []batch{{"e1", 9, 10, []uint64{9}}, {"e1", 10, 11, nil}, {"e1", 100, 100, nil}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t, srv, Config{KeyPrefix: fmt.Sprintf("admit%d:", i), StreamLength: 100})
			var held event.Position
			appended := 0
			for _, bt := range tc.batches {
				var recs []*hub.Record
				if bt.from <= bt.to {
					recs = recordsAt(t, bt.epoch, bt.from, bt.to, bt.snapshots...)
				}
				skipped, wantErr := hub.Admit(held, recs)
				res, err := b.Publish(context.Background(), recs)
				if wantErr != nil {
					var got *hub.SnapshotRequiredError
					if !errors.As(err, &got) || got.Error() != wantErr.Error() {
						t.Fatalf("batch %s/%d-%d: err = %v, want %v", bt.epoch, bt.from, bt.to, err, wantErr)
					}
					continue
				}
				want := hub.IngestResult{Applied: len(recs) - skipped, Skipped: skipped}
				if err != nil || res != want {
					t.Fatalf("batch %s/%d-%d: %+v %v, want %+v", bt.epoch, bt.from, bt.to, res, err, want)
				}
				if want.Applied > 0 {
					held = recs[len(recs)-1].Position()
					appended += want.Applied
				}
			}
			ctx := context.Background()
			if n := b.client.XLen(ctx, b.keys.stream).Val(); n != int64(appended) {
				t.Errorf("the stream holds %d entries, want %d", n, appended)
			}
			h := b.client.HGetAll(ctx, b.keys.head).Val()
			if got := fmt.Sprintf("%s/%s", h["epoch"], h["seq"]); !held.IsZero() && got != held.String() {
				t.Errorf("head = %s, want %s", got, held)
			}
		})
	}
}

func TestPublishRefusesRecordsOutOfOrder(t *testing.T) {
	srv := redistest.Start(t)
	b := newBroker(t, srv, Config{})
	mixed := append(recordsAt(t, "e1", 1, 1, 1), recordsAt(t, "e2", 2, 2)...)
	holed := append(recordsAt(t, "e1", 1, 1, 1), recordsAt(t, "e1", 3, 3)...)
	for name, recs := range map[string][]*hub.Record{"two epochs": mixed, "a hole": holed} {
		if _, err := b.Publish(context.Background(), recs); err == nil || errors.Is(err, hub.ErrUnavailable) {
			t.Errorf("%s: err = %v, want a refusal", name, err)
		}
	}
	if n := b.client.Exists(context.Background(), b.keys.head, b.keys.stream).Val(); n != 0 {
		t.Errorf("a refused batch left %d keys", n)
	}
}

// TestStreamIsCappedAndCheckpointFollowsSnapshots checks what Publish leaves in Redis: a stream of at
// most StreamLength frames, byte for byte the records' frames, and a checkpoint at each snapshot.
func TestStreamIsCappedAndCheckpointFollowsSnapshots(t *testing.T) {
	srv := redistest.Start(t)
	b := newBroker(t, srv, Config{StreamLength: 10})
	ctx := context.Background()
	recs := recordsAt(t, "e1", 1, 25, 1, 20)
	for i := 0; i < len(recs); i += 5 {
		if _, err := b.Publish(ctx, recs[i:i+5]); err != nil {
			t.Fatal(err)
		}
	}
	entries := b.client.XRange(ctx, b.keys.stream, "-", "+").Val()
	if len(entries) != 10 {
		t.Fatalf("the stream holds %d entries, want 10", len(entries))
	}
	for i, e := range entries {
		if got, want := e.Values[frameField], string(recs[15+i].Frame()); got != want {
			t.Errorf("entry %d = %v, want %s", i, got, want)
		}
	}
	ck := b.client.HGetAll(ctx, b.keys.checkpoint).Val()
	if ck["epoch"] != "e1" || ck["seq"] != "20" || ck["rooms"] != `{"rooms":[]}` || ck["id"] != entries[4].ID {
		t.Errorf("checkpoint = %v, want the snapshot at e1/20, entry %s", ck, entries[4].ID)
	}
}

// TestEmptyBatchAnswersWithoutRedis checks that a probe costs no round trip but still reports a broker
// known to be down.
func TestEmptyBatchAnswersWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	b := newBroker(t, srv, Config{})
	if res, err := b.Publish(context.Background(), nil); err != nil || res != (hub.IngestResult{}) {
		t.Fatalf("empty batch: %+v %v", res, err)
	}
	srv.Stop()
	if _, err := b.Publish(context.Background(), recordsAt(t, "e1", 1, 1, 1)); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("publish with Redis down: err = %v, want ErrUnavailable", err)
	}
	if _, err := b.Publish(context.Background(), nil); !errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("empty batch with Redis known down: err = %v, want ErrUnavailable", err)
	}
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("Err() = %v, want the failure to reach %s", err, srv.Addr())
	}
}
