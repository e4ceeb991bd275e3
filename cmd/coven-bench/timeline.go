package main

import (
	"slices"
	"sync/atomic"
	"time"
)

// clock gives the bench one monotonic time base, as durations since its start: the publisher stamps
// send times with it and clients stamp receipts.
type clock struct{ start time.Time }

func newClock() *clock { return &clock{start: time.Now()} }

func (c *clock) now() time.Duration { return time.Since(c.start) }

// eventTimes holds, for every event of the measured window, indexed by seq: when the publisher posted
// it and when the first and the last client received it. The publisher stores a batch's time before
// posting it; clients read it on receipt, necessarily later. Atomics make that ordering visible to the
// race detector, which cannot see it through the edge.
type eventTimes struct {
	first uint64
	sent  []atomic.Int64
	// Receipts, as clock times; zero until the first client receives the event.
	firstAt, lastAt []atomic.Int64
}

func newEventTimes(first uint64, n int) *eventTimes {
	return &eventTimes{
		first:   first,
		sent:    make([]atomic.Int64, n),
		firstAt: make([]atomic.Int64, n),
		lastAt:  make([]atomic.Int64, n),
	}
}

func (t *eventTimes) index(seq uint64) (int, bool) {
	i := seq - t.first
	return int(i), seq >= t.first && i < uint64(len(t.sent))
}

// posted records when event seq was posted.
func (t *eventTimes) posted(seq uint64, at time.Duration) {
	if i, ok := t.index(seq); ok {
		t.sent[i].Store(int64(at))
	}
}

// received records a client's receipt of event seq at and returns when the event was posted, or
// false for an event outside the window.
func (t *eventTimes) received(seq uint64, at time.Duration) (time.Duration, bool) {
	i, ok := t.index(seq)
	if !ok {
		return 0, false
	}
	sent := t.sent[i].Load()
	if sent == 0 {
		return 0, false
	}
	raise(&t.lastAt[i], int64(at), func(old, v int64) bool { return v > old })
	raise(&t.firstAt[i], int64(at), func(old, v int64) bool { return old == 0 || v < old })
	return time.Duration(sent), true
}

// raise stores v into a if better(current, v), retrying when another client raced it.
func raise(a *atomic.Int64, v int64, better func(old, v int64) bool) {
	for {
		old := a.Load()
		if !better(old, v) || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// spread returns, over the events received by at least one client, the distribution of the latency
// to the first client and of the time between the first and the last client's receipt.
func (t *eventTimes) spread() (first, spread histogram) {
	for i := range t.sent {
		f := t.firstAt[i].Load()
		if f == 0 {
			continue
		}
		first.record(time.Duration(f - t.sent[i].Load()))
		spread.record(time.Duration(t.lastAt[i].Load() - f))
	}
	return first, spread
}

// SecondOfWindow is one second of the measured window: the events posted in it and the latency of
// the last client's receipt of each (the slowest delivery of the event).
type SecondOfWindow struct {
	Events int     `json:"events"`
	MaxMs  float64 `json:"last_client_max_ms"`
	P50Ms  float64 `json:"last_client_p50_ms"`
}

// seconds returns the window second by second, from the first event posted: where in the window
// the slow deliveries were.
func (t *eventTimes) seconds() []SecondOfWindow {
	var start int64
	for i := range t.sent {
		if s := t.sent[i].Load(); s != 0 && t.lastAt[i].Load() != 0 {
			start = s
			break
		}
	}
	var secs [][]time.Duration
	for i := range t.sent {
		s, last := t.sent[i].Load(), t.lastAt[i].Load()
		if s == 0 || last == 0 {
			continue
		}
		k := int(time.Duration(s-start) / time.Second)
		for len(secs) <= k {
			secs = append(secs, nil)
		}
		secs[k] = append(secs[k], time.Duration(last-s))
	}
	out := make([]SecondOfWindow, len(secs))
	for k, d := range secs {
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		out[k] = SecondOfWindow{Events: len(d), MaxMs: ms(d[len(d)-1]), P50Ms: ms(d[len(d)/2])}
	}
	return out
}
