package backoff

import (
	"fmt"
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	p := Policy{Initial: 250 * time.Millisecond, Max: 30 * time.Second}
	cases := []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, 250 * time.Millisecond}, {1, 500 * time.Millisecond}, {2, time.Second}, {3, 2 * time.Second},
		{6, 16 * time.Second}, {7, 30 * time.Second}, {8, 30 * time.Second}, {1000, 30 * time.Second},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint("attempt ", c.attempt), func(t *testing.T) {
			if got := p.Ceiling(c.attempt); got != c.ceiling {
				t.Fatalf("Ceiling = %v, want %v", got, c.ceiling)
			}
			seen := map[time.Duration]bool{}
			for range 200 {
				d := p.Delay(c.attempt)
				if d < c.ceiling/2 || d > c.ceiling {
					t.Fatalf("Delay = %v, want within [%v, %v]", d, c.ceiling/2, c.ceiling)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Fatalf("only %d distinct delays in 200: no jitter", len(seen))
			}
		})
	}
}

func TestZeroPolicyDoesNotWait(t *testing.T) {
	if d := (Policy{}).Delay(5); d != 0 {
		t.Fatalf("Delay of a zero policy = %v", d)
	}
}
