package discordtest

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestSnowflakesIncreaseAndCarryTheirTime(t *testing.T) {
	var g snowflakes
	before := time.Now().Add(-time.Millisecond)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := uint64(0)
			for range 2000 {
				id := g.next()
				v, err := strconv.ParseUint(id, 10, 64)
				if err != nil {
					t.Errorf("%q is not decimal", id)
					return
				}
				if v <= prev {
					t.Errorf("IDs not increasing: %d after %d", v, prev)
					return
				}
				prev = v
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate ID %s", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	after := time.Now().Add(time.Second)

	ts, err := SnowflakeTime(g.next())
	if err != nil {
		t.Fatal(err)
	}
	// 8000 IDs may run ahead of the clock by up to two milliseconds (4096 per millisecond).
	if ts.Before(before) || ts.After(after) {
		t.Fatalf("snowflake time %v outside [%v, %v]", ts, before, after)
	}
}

func TestSnowflakeObserveKeepsOrder(t *testing.T) {
	var g snowflakes
	far := strconv.FormatUint(uint64(1)<<62, 10)
	g.observe(far)
	next, _ := strconv.ParseUint(g.next(), 10, 64)
	if next <= 1<<62 {
		t.Fatalf("got %d, want an ID after the observed %s", next, far)
	}
}

func TestSnowflakeTimeRejectsNonSnowflakes(t *testing.T) {
	for _, id := range []string{"", "abc", "-1", "1.5"} {
		if _, err := SnowflakeTime(id); err == nil {
			t.Errorf("SnowflakeTime(%q): want an error", id)
		}
	}
	if ts, err := SnowflakeTime("175928847299117063"); err != nil || ts.Year() != 2016 {
		t.Fatalf("Discord's documented example: got %v, %v, want a time in 2016", ts, err)
	}
}
