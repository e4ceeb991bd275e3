package main

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestEventTimesKeepTheFirstAndLastReceipt(t *testing.T) {
	const ms = time.Millisecond
	times := newEventTimes(10, 3)
	times.posted(10, 100*ms)
	times.posted(11, 120*ms)
	times.posted(12, 140*ms)
	tests := []struct {
		name    string
		seq     uint64
		at      time.Duration
		sent    time.Duration
		counted bool
	}{
		{"second client first", 10, 107 * ms, 100 * ms, true},
		{"first client second", 10, 103 * ms, 100 * ms, true},
		{"last client", 10, 115 * ms, 100 * ms, true},
		{"the only client of 11", 11, 121 * ms, 120 * ms, true},
		{"before the window", 9, 130 * ms, 0, false},
		{"after the window", 13, 130 * ms, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent, ok := times.received(tt.seq, tt.at)
			if ok != tt.counted || sent != tt.sent {
				t.Errorf("received(%d) = %v, %v; want %v, %v", tt.seq, sent, ok, tt.sent, tt.counted)
			}
		})
	}
	first, spread := times.spread()
	// Event 12 was posted but never received: it is left out.
	if first.total != 2 || spread.total != 2 {
		t.Fatalf("%d first receipts and %d spreads, want 2 each", first.total, spread.total)
	}
	if first.max != 3*ms || spread.max != 12*ms {
		t.Errorf("first-client latency max %v and spread max %v, want 3ms and 12ms", first.max, spread.max)
	}
}

func TestEventTimesTakeConcurrentReceipts(t *testing.T) {
	times := newEventTimes(1, 1)
	times.posted(1, time.Second)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			times.received(1, time.Second+time.Duration(i+1)*time.Microsecond)
		}()
	}
	wg.Wait()
	first, spread := times.spread()
	if first.max != time.Microsecond || spread.max != 63*time.Microsecond {
		t.Errorf("first-client latency %v and spread %v, want 1us and 63us", first.max, spread.max)
	}
}

// The window by second: events fall in the second they were posted in, counted from the first,
// with the latency of their last receipt.
func TestEventTimesBySecond(t *testing.T) {
	const ms = time.Millisecond
	times := newEventTimes(1, 5)
	for seq, at := range map[uint64]time.Duration{1: 1000 * ms, 2: 1500 * ms, 3: 2100 * ms, 4: 3900 * ms, 5: 4000 * ms} {
		times.posted(seq, at)
	}
	times.received(1, 1010*ms)
	times.received(1, 1040*ms) // the last client of 1: 40 ms
	times.received(2, 1520*ms)
	times.received(4, 3990*ms)
	// 3 and 5 never received: left out.
	got := times.seconds()
	want := []SecondOfWindow{{Events: 2, MaxMs: 40, P50Ms: 40}, {}, {Events: 1, MaxMs: 90, P50Ms: 90}}
	if !slices.Equal(got, want) {
		t.Fatalf("seconds %+v, want %+v", got, want)
	}
}
