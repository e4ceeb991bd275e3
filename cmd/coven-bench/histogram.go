package main

import (
	"math"
	"math/bits"
	"time"
)

// A histogram counts durations in log-linear buckets: exact below 64 us, then 32 buckets per power of
// two, so a reported percentile is within 1/32 (3%) of the true one. Recording is two shifts and an
// increment, and a histogram is a fixed 4 KiB, so every client keeps its own without locks or
// allocation and the coordinator merges them at the end.
const (
	histSubBits    = 6
	histSubCount   = 1 << histSubBits
	histHalf       = histSubCount / 2
	histBuckets    = 1024 // covers up to 2^36 us (19 hours); longer values land in the last bucket
	histResolution = time.Microsecond
)

type histogram struct {
	counts [histBuckets]uint32
	total  uint64
	max    time.Duration
}

// histBucket returns the bucket of v microseconds.
func histBucket(v uint64) int {
	if v < histSubCount {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	b := shift*histHalf + int(v>>shift)
	return min(b, histBuckets-1)
}

// histValue returns the middle of bucket b, in microseconds.
func histValue(b int) float64 {
	if b < histSubCount {
		return float64(b)
	}
	shift := b/histHalf - 1
	low := uint64(b-shift*histHalf) << shift
	return float64(low) + float64(uint64(1)<<shift)/2
}

// record counts one duration; negative ones (clock steps cannot happen on the monotonic clock, but a
// table slot read too early would show as one) count as zero.
func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[histBucket(uint64(d/histResolution))]++
	h.total++
	h.max = max(h.max, d)
}

// merge adds o's counts to h. The merged counts stay below 2^32 per bucket for any run this tool can
// make (that would be 4 billion deliveries of the same latency).
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the duration below which a fraction q of the recorded values lie (q in [0,1]), or
// zero for an empty histogram. The maximum is exact: it is kept beside the buckets.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			if b == histBuckets-1 {
				return h.max // the last bucket is open-ended
			}
			v := time.Duration(histValue(b) * float64(histResolution))
			return min(v, h.max)
		}
	}
	return h.max
}
