package tokenbucket

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		if !b.Take(t0, 1, 2) {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	if b.Take(t0, 1, 2) {
		t.Fatal("a third at once allowed")
	}
	if w := b.Wait(1); w != time.Second {
		t.Fatalf("wait %v, want 1s", w)
	}
	if !b.Take(t0.Add(time.Second), 1, 2) || b.Take(t0.Add(time.Second), 1, 2) {
		t.Fatal("one second refills exactly one")
	}
	if w := b.Wait(0.25); w != 4*time.Second {
		t.Fatalf("wait at 0.25/s %v, want 4s", w)
	}
	if b.Full(t0.Add(time.Second), 1, 2) || !b.Full(t0.Add(time.Hour), 1, 2) {
		t.Fatal("Full")
	}
	if !b.Take(t0.Add(time.Hour), 1, 2) || !b.Take(t0.Add(time.Hour), 1, 2) || b.Take(t0.Add(time.Hour), 1, 2) {
		t.Fatal("an hour refills no more than the burst")
	}
}
