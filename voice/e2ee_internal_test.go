package voice

import "testing"

// TestExtendSeq: a binary message's 16-bit seq is placed next to the last seq seen, across the
// wrap at 65536, so that long calls keep acknowledging and skipping replays correctly.
func TestExtendSeq(t *testing.T) {
	cases := []struct {
		last int64
		seq  uint16
		want int64
	}{
		{-1, 0, 0},
		{-1, 7, 7},
		{5, 6, 6},
		{5, 5, 5},                  // a replay of the last one
		{5, 3, 3},                  // an older one, replayed after a resume
		{65535, 0, 65536},          // the wrap
		{65534, 1, 65537},          // past it
		{65536, 65535, 65535},      // just before it, replayed
		{3 * 65536, 65535, 196607}, // before a later wrap
		{3*65536 + 10, 12, 3*65536 + 12},
		{100, 40000, 40000}, // far ahead but within half the space
	}
	for _, c := range cases {
		if got := extendSeq(c.last, c.seq); got != c.want {
			t.Errorf("extendSeq(%d, %d) = %d, want %d", c.last, c.seq, got, c.want)
		}
	}
	// Every message of a long session, in order, is new exactly once.
	last := int64(-1)
	for i := int64(0); i < 3*65536; i++ {
		got := extendSeq(last, uint16(i))
		if got != i {
			t.Fatalf("message %d extended to %d", i, got)
		}
		last = got
	}
}
