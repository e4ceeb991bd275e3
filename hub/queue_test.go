package hub

import "testing"

// A queue that grew while its subscriber fell behind gives its ring back once emptied, keeps its
// frames in order meanwhile, and grows again when needed.
func TestQueueShrinksOnceCaughtUp(t *testing.T) {
	var q runQueue
	recs := make([]*Record, 40)
	for i := range recs {
		recs[i] = &Record{}
	}
	for i := range 20 { // 20 runs of 2 records: the ring grows past its first slots
		q.push(recs[2*i : 2*i+2])
	}
	if len(q.runs) <= initialQueueSlots || q.frames != 40 {
		t.Fatalf("after 20 runs: %d slots, %d frames", len(q.runs), q.frames)
	}
	cur := q.cursor()
	for i := range recs {
		r, ok := cur.next()
		if !ok || r != recs[i] {
			t.Fatalf("frame %d out of order", i)
		}
	}
	q.drop(39)
	if len(q.runs) <= initialQueueSlots || q.n != 1 {
		t.Fatalf("one frame left: %d slots, %d runs", len(q.runs), q.n)
	}
	q.drop(1)
	if q.runs != nil || q.n != 0 || q.frames != 0 {
		t.Fatalf("emptied: %d slots, %d runs, %d frames", len(q.runs), q.n, q.frames)
	}
	q.push(recs[:3])
	if len(q.runs) != initialQueueSlots || q.frames != 3 {
		t.Fatalf("after emptying and one run: %d slots, %d frames", len(q.runs), q.frames)
	}
	if c := q.cursor(); func() bool { r, ok := c.next(); return !ok || r != recs[0] }() {
		t.Fatal("the first frame after emptying")
	}
	// A queue that never grew keeps its slots.
	q.drop(3)
	if len(q.runs) != initialQueueSlots {
		t.Fatalf("a small queue emptied: %d slots", len(q.runs))
	}
}
