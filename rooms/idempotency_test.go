package rooms

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
)

func TestIdempotentRetriesReplayTheFirstAnswer(t *testing.T) {
	f := newFixture(t, nil, nil)
	key := map[string]string{"Idempotency-Key": "7b0c0d8e-retry-1"}
	first := f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"Table"}`, header: key, caller: alice})
	if first.Status != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.Status, first.Header)
	}
	cases := []struct {
		name     string
		body     string
		caller   Caller
		status   int
		replayed bool
	}{
		{"same request", `{"name":"Table"}`, alice, http.StatusCreated, true},
		{"same request, other spelling", `{ "user_limit": 0, "name": " Table " }`, alice, http.StatusCreated, true},
		{"same key, other request", `{"name":"Other table"}`, alice, http.StatusUnprocessableEntity, false},
		{"same key, other user", `{"name":"Table"}`, bob, http.StatusCreated, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, call{method: "POST", path: "/api/rooms", body: tc.body, header: key, caller: tc.caller})
			if r.Status != tc.status || (r.Header.Get("Idempotent-Replayed") == "true") != tc.replayed {
				t.Fatalf("got %d %v %+v", r.Status, r.Header, r.Error)
			}
			if tc.replayed && (r.Body.(Room) != first.Body.(Room) || r.Header.Get("Location") != first.Header.Get("Location")) {
				t.Fatalf("replay %+v, first %+v", r.Body, first.Body)
			}
		})
	}
	if n := f.roomsNamed(t, "Table"); n != 2 {
		t.Fatalf("%d rooms named Table, want alice's and bob's", n)
	}
}

func TestConcurrentRetriesWaitForTheFirst(t *testing.T) {
	f := newFixture(t, nil, nil)
	// Discord is slow, so that every retry arrives while the first request runs.
	if err := f.emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultDelay, Delay: 300 * time.Millisecond,
		Route: "POST /guilds/{guild.id}/channels"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make(chan Response, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"Concurrent"}`,
				header: map[string]string{"Idempotency-Key": "k"}, caller: alice})
		}()
	}
	wg.Wait()
	close(answers)
	ids, replays := map[string]bool{}, 0
	for r := range answers {
		if r.Status != http.StatusCreated {
			t.Fatalf("answer %d %+v", r.Status, r.Error)
		}
		ids[r.Body.(Room).ID] = true
		if r.Header.Get("Idempotent-Replayed") == "true" {
			replays++
		}
	}
	if len(ids) != 1 || replays != 7 || f.roomsNamed(t, "Concurrent") != 1 {
		t.Fatalf("%d rooms, %d replays; want one room and 7 replays", len(ids), replays)
	}
}

func TestFailuresAreNotReplayed(t *testing.T) {
	f := newFixture(t, nil, nil)
	if err := f.emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultServerError, Count: 1, Status: 500,
		Route: "POST /guilds/{guild.id}/channels"}); err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"Idempotency-Key": "after-a-failure"}
	if r := f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"T"}`, header: key, caller: alice}); r.Status != http.StatusBadGateway {
		t.Fatalf("first: %d", r.Status)
	}
	r := f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"T"}`, header: key, caller: alice})
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry: %d %v", r.Status, r.Header)
	}
}

func TestIdempotencyStoreIsBounded(t *testing.T) {
	s := newIdempotencyStore(time.Minute, 2, 2)
	t0 := time.Now()
	fp := CreateRequest{Name: "a"}.fingerprint()
	done := Response{Status: http.StatusCreated, Body: Room{ID: "1"}}
	cases := []struct {
		name   string
		key    string
		at     time.Duration
		leader bool
		code   string
		finish bool
	}{
		{"first key", "a", 0, true, "", false},
		{"second key", "b", 0, true, "", false},
		{"full of running requests", "c", 0, false, "busy", false},
		{"a running request is waited for", "a", 0, false, "", true},
		{"the oldest finished answer makes room", "c", 0, true, "", true},
		{"the evicted key runs again", "a", 0, true, "", true},
		{"answers expire", "a", 2 * time.Minute, true, "", false},
	}
	for _, tc := range cases {
		e, leader, err := s.begin("u", tc.key, fp, t0.Add(tc.at))
		if leader != tc.leader || (err == nil) != (tc.code == "") || (err != nil && err.Code != tc.code) {
			t.Fatalf("%s: leader %v err %v", tc.name, leader, err)
		}
		if e != nil && tc.finish && leader {
			s.finish(e, done)
		}
		if e != nil && !leader && tc.finish {
			// finish the running "a" so that it can be evicted
			s.finish(e, done)
			if r := s.wait(context.Background(), e); r.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("%s: replay header missing", tc.name)
			}
		}
		if n := s.len(); n > 2 {
			t.Fatalf("%s: %d entries, bound 2", tc.name, n)
		}
	}
}

func TestWaitingEndsWithTheRequest(t *testing.T) {
	s := newIdempotencyStore(time.Minute, 10, 10)
	fp := CreateRequest{Name: "a"}.fingerprint()
	s.begin("u", "k", fp, time.Now())
	e, leader, _ := s.begin("u", "k", fp, time.Now())
	if leader {
		t.Fatal("second request became leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if r := s.wait(ctx, e); r.Status != http.StatusServiceUnavailable || r.Error.Code != "in_progress" {
		t.Fatalf("got %d %+v", r.Status, r.Error)
	}
}
