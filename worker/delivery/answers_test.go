package delivery

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/ingest/ingesttest"
	"github.com/spellcoven/gateway/worker/metrics"
)

// TestAnswers runs the loop against an edge that answers one way or another and checks what reaches
// the edge, what is dead-lettered and what the metrics say.
func TestAnswers(t *testing.T) {
	errorBody := func(code string) string { return `{"error":{"code":"` + code + `","message":"refused"}}` }
	has := func(b *event.Batch, seq uint64) bool {
		for _, e := range b.Events {
			if e.Seq == seq {
				return true
			}
		}
		return false
	}
	cases := []struct {
		name  string
		fault ingesttest.Fault
		// prepare runs before the loop starts, after 1 snapshot and 20 joins (seqs 1..21).
		prepare func(r *rig)
		// wantApplied are the seqs the edge applies, in order; wantLetters the dead-lettered seqs.
		wantApplied []uint64
		wantLetters string
		check       func(t *testing.T, r *rig)
	}{
		{
			name: "503 then 200: retried until delivered",
			fault: func(b *event.Batch, n int) (int, string) {
				if n <= 3 {
					return http.StatusServiceUnavailable, errorBody("unavailable")
				}
				return 0, ""
			},
			wantApplied: seqRange(1, 21),
			check: func(t *testing.T, r *rig) {
				if got := metrics.Value(r.m.Attempts.WithLabelValues("retry")); got != 3 {
					t.Fatalf("retry attempts %v", got)
				}
			},
		},
		{
			name: "400 on one event: it alone is dead-lettered",
			fault: func(b *event.Batch, n int) (int, string) {
				if has(b, 7) {
					return http.StatusBadRequest, errorBody("invalid_batch")
				}
				return 0, ""
			},
			// The gap left by seq 7 makes the edge ask for a snapshot: 22 supersedes 8..21.
			wantApplied: append(seqRange(1, 6), 22),
			wantLetters: "7",
			check: func(t *testing.T, r *rig) {
				if got := metrics.Value(r.m.Superseded.WithLabelValues("snapshot_required")); got != 14 {
					t.Fatalf("superseded %v", got)
				}
			},
		},
		{
			name: "413 for large batches: smaller ones pass",
			fault: func(b *event.Batch, n int) (int, string) {
				if len(b.Events) > 3 {
					return http.StatusRequestEntityTooLarge, errorBody("too_large")
				}
				return 0, ""
			},
			wantApplied: seqRange(1, 21),
		},
		{
			name: "401 even re-signed: the batch is dead-lettered",
			fault: func(b *event.Batch, n int) (int, string) {
				if len(b.Events) > 0 && b.Events[0].Seq == 1 {
					return http.StatusUnauthorized, errorBody("unauthorized")
				}
				return 0, ""
			},
			prepare: func(r *rig) { r.d.cfg.MaxBatchEvents = 5 },
			// 1..5 refused; 6.. is a gap, so a new snapshot (22) supersedes 6..21.
			wantApplied: []uint64{22},
			wantLetters: "1-5",
			check: func(t *testing.T, r *rig) {
				signed := 0
				for _, req := range r.edge.Requests() {
					if req.Verified && req.Batch != nil && len(req.Batch.Events) > 0 && req.Batch.Events[0].Seq == 1 {
						signed++
					}
				}
				if signed != 2 {
					t.Fatalf("the refused batch was sent %d times with a valid signature, want 2 (once re-signed)", signed)
				}
			},
		},
		{
			name: "404: dead-lettered",
			fault: func(b *event.Batch, n int) (int, string) {
				if n == 1 {
					return http.StatusNotFound, "404 page not found"
				}
				return 0, ""
			},
			prepare:     func(r *rig) { r.d.cfg.MaxBatchEvents = 10 },
			wantApplied: []uint64{22},
			wantLetters: "1-10",
		},
		{
			name: "409 with a snapshot pending: delivered from it",
			fault: func(b *event.Batch, n int) (int, string) {
				if n == 1 {
					return http.StatusConflict, errorBody("snapshot_required")
				}
				return 0, ""
			},
			prepare: func(r *rig) {
				r.ob.Ack(1)                   // the batch must not start with a snapshot
				r.snap.AppendSnapshot("test") // 22
				r.appendJoins(100, 2)         // 23, 24
			},
			wantApplied: seqRange(22, 24),
			check: func(t *testing.T, r *rig) {
				if r.snap.calls != 2 {
					t.Fatalf("a new snapshot was made though one was pending (%d calls)", r.snap.calls)
				}
			},
		},
		{
			name: "edge lost its state: the worker sends a new snapshot",
			prepare: func(r *rig) {
				// Past the leading snapshot, the first batch meets an edge that holds nothing.
				r.ob.Ack(1)
			},
			wantApplied: []uint64{22},
			check: func(t *testing.T, r *rig) {
				if got := metrics.Value(r.m.Superseded.WithLabelValues("snapshot_required")); got != 20 {
					t.Fatalf("superseded %v", got)
				}
			},
		},
		{
			name: "snapshot cannot be made yet: retried until it can",
			prepare: func(r *rig) {
				r.ob.Ack(1)
				r.snap.fail = true
				go func() {
					time.Sleep(50 * time.Millisecond)
					r.snap.mu.Lock()
					r.snap.fail = false
					r.snap.mu.Unlock()
				}()
			},
			wantApplied: []uint64{22},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.edge.SetFault(c.fault)
			r.appendEvents(20)
			if c.prepare != nil {
				c.prepare(r)
			}
			last := r.ob.Stats().Last
			r.run()
			deadline := time.Now().Add(10 * time.Second)
			for r.ob.Stats().Cursor < max(last, c.wantApplied[len(c.wantApplied)-1]) || r.ob.Stats().PendingEvents > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("stuck at %+v; applied %v", r.ob.Stats(), appliedSeqs(r.edge.Applied()))
				}
				time.Sleep(2 * time.Millisecond)
			}
			if got := appliedSeqs(r.edge.Applied()); fmt.Sprint(got) != fmt.Sprint(c.wantApplied) {
				t.Fatalf("edge applied %v, want %v", got, c.wantApplied)
			}
			letters, _ := r.dl.List()
			var got []string
			for _, l := range letters {
				var s []string
				for _, raw := range l.Events {
					e, err := event.Decode(raw)
					if err != nil {
						t.Fatal(err)
					}
					s = append(s, fmt.Sprint(e.Seq))
				}
				if len(s) > 1 {
					s = []string{s[0] + "-" + s[len(s)-1]}
				}
				got = append(got, s...)
				if l.Status == 0 || l.Message == "" {
					t.Fatalf("letter without the edge's answer: %+v", l)
				}
			}
			if strings.Join(got, ",") != c.wantLetters {
				t.Fatalf("dead letters %q, want %q", got, c.wantLetters)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}
