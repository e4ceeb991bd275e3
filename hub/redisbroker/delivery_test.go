package redisbroker

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// TestEveryInstanceDeliversEveryEventOnce has two instances take the same batches at the same time, as
// a worker retrying through a load balancer would: Redis admits each event once, and every client of
// either instance gets every event once, in order.
func TestEveryInstanceDeliversEveryEventOnce(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, Config{}, hub.Config{})
	b := startInstance(t, srv, Config{}, hub.Config{})
	onA, onB := a.subscribe(t, nil), b.subscribe(t, nil)

	s := newStory(t, "e1")
	a.ingest(t, s.snapshot())
	events := s.events(200)
	var wg sync.WaitGroup
	results := make([]hub.IngestResult, 2)
	errs := make([]error, 2)
	for i, in := range []*instance{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := 0; from < len(events); from += 5 {
				res, err := in.hub.Ingest(context.Background(), batchOf(events[from:from+5]...))
				if err != nil {
					errs[i] = err
					return
				}
				results[i].Applied += res.Applied
				results[i].Skipped += res.Skipped
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if applied, skipped := results[0].Applied+results[1].Applied, results[0].Skipped+results[1].Skipped; applied != 200 || skipped != 200 {
		t.Errorf("applied %d and skipped %d in all, want 200 and 200", applied, skipped)
	}
	for name, c := range map[string]*client{"a": onA, "b": onB} {
		if got := eventSeqs(c.waitEvents(t, 201)); !reflect.DeepEqual(got, seqRange(1, 201)) {
			t.Errorf("client of %s got seqs %v", name, got)
		}
	}
	posA, roomsA := a.hub.Snapshot()
	posB, roomsB := b.hub.Snapshot()
	if posA != posB || !reflect.DeepEqual(roomsA, roomsB) {
		t.Errorf("instances disagree: %v %+v and %v %+v", posA, roomsA, posB, roomsB)
	}
}

// TestAcknowledgedBatchIsVisibleOnTheInstanceThatTookIt checks that Publish returns only once this
// instance applied what it published, so that a client connecting right after sees it.
func TestAcknowledgedBatchIsVisibleOnTheInstanceThatTookIt(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, Config{}, hub.Config{})
	s := newStory(t, "e1")
	a.ingest(t, s.snapshot())
	for range 50 {
		e := s.events(1)
		a.ingest(t, e...)
		if pos, _ := a.hub.Snapshot(); pos != e[0].Position() {
			t.Fatalf("after the batch at %s was acknowledged the hub holds %s", e[0].Position(), pos)
		}
	}
}

// TestLateInstanceCatchesUp starts an instance after events were published and checks that it serves
// the same projection as the instance that saw them all, and the same history to resume from.
func TestLateInstanceCatchesUp(t *testing.T) {
	cases := []struct {
		name               string
		events             int
		streamLength       int
		checkpointInterval int
	}{
		{"from the snapshot's checkpoint", 3, 100, 50},
		{"from a periodic checkpoint", 47, 100, 10},
		{"with the stream trimmed past the snapshot", 130, 40, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := Config{StreamLength: tc.streamLength, CheckpointInterval: tc.checkpointInterval}
			hcfg := hub.Config{HistorySize: tc.streamLength}
			a := startInstance(t, srv, cfg, hcfg)
			s := newStory(t, "e1")
			a.ingest(t, s.snapshot())
			events := s.events(tc.events)
			for from := 0; from < len(events); from += 4 {
				a.ingest(t, events[from:min(from+4, len(events))]...)
			}
			last := events[len(events)-1].Position()

			late := startInstance(t, srv, cfg, hcfg)
			posA, roomsA := a.hub.Snapshot()
			posL, roomsL := late.hub.Snapshot()
			if posL != last || posA != last || !reflect.DeepEqual(roomsL, roomsA) {
				t.Fatalf("late instance holds %v %+v; the first holds %v %+v", posL, roomsL, posA, roomsA)
			}
			if dl, da := late.hub.Health().Discord, a.hub.Health().Discord; dl != da || da == "" {
				t.Errorf("late instance reports Discord %q, the first %q", dl, da)
			}
			// A client resumes on the late instance from anywhere in the stream.
			from := last.Seq - uint64(tc.streamLength) + 2
			if last.Seq < uint64(tc.streamLength) {
				from = 1
			}
			c := late.subscribe(t, &event.Position{Epoch: "e1", Seq: from})
			frames := c.waitEvents(t, last.Seq)
			if !frames[0].Resumed || !reflect.DeepEqual(eventSeqs(frames), seqRange(from+1, last.Seq)) {
				t.Errorf("resume after %d on the late instance: %v", from, frames)
			}
		})
	}
}
