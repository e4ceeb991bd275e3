package discordrest

import (
	"strings"
	"testing"
	"time"
)

func TestConfigIsCheckedAndDefaulted(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"defaults", Config{Token: "t"}, ""},
		{"no token", Config{}, "token is required"},
		{"token with the Bot prefix", Config{Token: "Bot t"}, "white space"},
		{"base URL not http", Config{Token: "t", BaseURL: "ftp://x"}, "not an http(s) URL"},
		{"base URL with credentials", Config{Token: "t", BaseURL: "https://u:p@x"}, "not an http(s) URL"},
		{"negative global limit", Config{Token: "t", GlobalLimit: -1}, "GlobalLimit must not be negative"},
		{"negative invalid limit", Config{Token: "t", InvalidRequestLimit: -1}, "InvalidRequestLimit"},
		{"negative backoff", Config{Token: "t", BackoffBase: -time.Second}, "BackoffBase"},
		{"max below base", Config{Token: "t", BackoffBase: 2 * time.Second, BackoffMax: time.Second}, "BackoffMax"},
		{"window under a second", Config{Token: "t", InvalidRequestWindow: time.Millisecond}, "at least 1s"},
		{"window over a day", Config{Token: "t", InvalidRequestWindow: 25 * time.Hour}, "at most 24h"},
		{"global limit too large to keep", Config{Token: "t", GlobalLimit: 1 << 30}, "at most 10000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if len(tc.cfg.Token) > 1 && strings.Contains(err.Error(), tc.cfg.Token) {
					t.Fatalf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.BaseURL != DefaultBaseURL || got.GlobalLimit != 50 || got.InvalidRequestLimit != 1000 ||
				got.InvalidRequestWindow != 10*time.Minute || got.BackoffBase != time.Second || got.BackoffMax != 32*time.Second {
				t.Fatalf("defaults %+v", got)
			}
		})
	}
}

func TestBackoffDoublesUpToTheCapWithJitter(t *testing.T) {
	c, err := New(Config{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// Each wait is drawn from the upper half of the doubling ceiling, so that edges do not retry in
	// lockstep.
	want := []time.Duration{1, 2, 4, 8, 16, 32, 32, 32}
	for i, w := range want {
		ceiling := w * time.Second
		seen := map[time.Duration]bool{}
		for range 50 {
			got := c.backoff(i)
			if got < ceiling/2 || got > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", i, got, ceiling/2, ceiling)
			}
			seen[got] = true
		}
		if len(seen) < 5 {
			t.Fatalf("backoff(%d): %d distinct waits in 50, want jitter", i, len(seen))
		}
	}
}

func TestInvalidWindowSlides(t *testing.T) {
	w := newInvalidWindow(10 * time.Second)
	t0 := time.Unix(1_800_000_000, 0)
	for i := 0; i < 3; i++ {
		w.add(t0)
	}
	w.add(t0.Add(4 * time.Second))
	cases := []struct {
		name  string
		at    time.Duration
		count int
		limit int
		below time.Duration
	}{
		{"all within the window", 5 * time.Second, 4, 10, 0},
		{"at the limit: wait until the oldest leave", 5 * time.Second, 4, 4, 5 * time.Second},
		{"the oldest leaving is enough", 5 * time.Second, 4, 2, 5 * time.Second},
		{"the newest must leave too", 5 * time.Second, 4, 1, 9 * time.Second},
		{"the oldest have left", 10 * time.Second, 1, 10, 0},
		{"all have left", 14 * time.Second, 0, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(tc.at)
			if got := w.count(now); got != tc.count {
				t.Fatalf("count %d, want %d", got, tc.count)
			}
			if got := w.belowAfter(tc.limit, now); got != tc.below {
				t.Fatalf("belowAfter(%d) = %v, want %v", tc.limit, got, tc.below)
			}
		})
	}
}
