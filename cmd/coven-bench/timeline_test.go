package main

import (
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
