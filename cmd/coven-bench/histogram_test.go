package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantilesAreWithinTheBucketPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		sample func() time.Duration
	}{
		{"constant 5ms", func() time.Duration { return 5 * time.Millisecond }},
		{"below the exact range of 64us", func() time.Duration { return time.Duration(rng.IntN(64)) * time.Microsecond }},
		{"uniform up to 100ms", func() time.Duration { return time.Duration(rng.Int64N(int64(100 * time.Millisecond))) }},
		{"long tail", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond)) }},
		{"two modes", func() time.Duration {
			if rng.IntN(10) == 0 {
				return 80*time.Millisecond + time.Duration(rng.IntN(1000))*time.Microsecond
			}
			return 900*time.Microsecond + time.Duration(rng.IntN(200))*time.Microsecond
		}},
		{"beyond the last bucket", func() time.Duration { return 30 * 24 * time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			values := make([]time.Duration, 20000)
			for i := range values {
				values[i] = tt.sample()
				h.record(values[i])
			}
			slices.Sort(values)
			if h.total != uint64(len(values)) {
				t.Fatalf("total %d, want %d", h.total, len(values))
			}
			if got := h.quantile(1); got != values[len(values)-1] {
				t.Errorf("max %v, want exactly %v", got, values[len(values)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99} {
				want := values[int(math.Ceil(q*float64(len(values))))-1]
				got := h.quantile(q)
				// Within one bucket: 1/32 of the value, or the 1us resolution for small values.
				if diff := (got - want).Abs(); diff > max(want/32, time.Microsecond) {
					t.Errorf("p%v = %v, want %v within 1/32", q*100, got, want)
				}
			}
		})
	}
}

func TestHistogramMergeEqualsRecordingEverythingInOne(t *testing.T) {
	var a, b, all histogram
	for i := range 5000 {
		d := time.Duration(i*i) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a != all {
		t.Fatalf("merged histogram differs from the one that saw every value")
	}
}

func TestEmptyHistogramReportsZero(t *testing.T) {
	var h histogram
	for _, q := range []float64{0, 0.5, 1} {
		if got := h.quantile(q); got != 0 {
			t.Errorf("quantile(%v) of nothing = %v, want 0", q, got)
		}
	}
}

func TestHistogramBucketsAreContiguousAndOrdered(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v++ {
		b := histBucket(v)
		if b != prev && b != prev+1 {
			t.Fatalf("value %d jumps from bucket %d to %d", v, prev, b)
		}
		if lo := histValue(b); math.Abs(lo-float64(v)) > math.Max(float64(v)/64, 0.5) {
			t.Fatalf("value %d lands in bucket %d whose middle is %v", v, b, lo)
		}
		prev = b
	}
}
