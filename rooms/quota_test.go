package rooms

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
)

func TestRoomsOwnedAtOnceAreLimited(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxOwnedRooms = 2 }, nil)
	first := f.mustCreate(t, alice, "one")
	f.mustCreate(t, alice, "two")
	r := f.create(t, alice, `{"name":"three"}`)
	if r.Status != http.StatusTooManyRequests || r.Error.Code != "too_many_rooms" {
		t.Fatalf("third room: %d %+v", r.Status, r.Error)
	}
	// Others are not affected.
	f.mustCreate(t, bob, "bob's")
	// Deleting a room makes space.
	f.mirror(t)
	if d := f.do(t, call{method: "DELETE", path: "/api/rooms/" + first.ID, caller: alice}); d.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", d.Status)
	}
	f.mirror(t) // the worker's room.deleted
	f.mustCreate(t, alice, "three")
	if f.roomsNamed(t, "three") != 1 {
		t.Fatal("want exactly one room three")
	}
}

func TestOwnedRoomsAreCountedFromTheProjection(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxOwnedRooms = 2 }, nil)
	// Alice owns two rooms created elsewhere (another edge, before a restart).
	f.project(t,
		event.RoomState{Room: event.Room{ID: "1200000000000000101", Name: "a", OwnerID: aliceID}},
		event.RoomState{Room: event.Room{ID: "1200000000000000102", Name: "b", OwnerID: aliceID}},
		event.RoomState{Room: event.Room{ID: "1200000000000000103", Name: "c", OwnerID: bobID}})
	if r := f.create(t, alice, `{"name":"x"}`); r.Status != http.StatusTooManyRequests {
		t.Fatalf("got %d", r.Status)
	}
	// A room created here and then reported by the worker counts once.
	f.project(t)
	room := f.mustCreate(t, alice, "y")
	f.project(t, event.RoomState{Room: event.Room{ID: room.ID, Name: "y", OwnerID: aliceID}})
	f.mustCreate(t, alice, "z")
	if r := f.create(t, alice, `{"name":"w"}`); r.Status != http.StatusTooManyRequests {
		t.Fatalf("third: %d", r.Status)
	}
}

func TestConcurrentCreationsStayWithinTheLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxOwnedRooms = 3; c.CreationLimit = 100 }, nil)
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses <- f.create(t, alice, fmt.Sprintf(`{"name":"burst %d"}`, i)).Status
		}(i)
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		if s == http.StatusCreated {
			created++
		} else if s != http.StatusTooManyRequests {
			t.Fatalf("status %d", s)
		}
	}
	if created != 3 {
		t.Fatalf("%d rooms created, want 3", created)
	}
}

func TestCreationsPerWindowAreLimited(t *testing.T) {
	// Long enough that a starved machine still makes the third request inside it.
	const window = 3 * time.Second
	f := newFixture(t, func(c *Config) {
		c.MaxOwnedRooms = 10
		c.CreationLimit = 2
		c.CreationWindow = window
	}, nil)
	f.mustCreate(t, alice, "a")
	f.mustCreate(t, alice, "b")
	both := time.Now()
	r := f.create(t, alice, `{"name":"c"}`)
	if r.Status != http.StatusTooManyRequests || r.Error.Code != "too_many_creations" {
		t.Fatalf("third: %d %+v", r.Status, r.Error)
	}
	if s, _ := strconv.Atoi(r.Header.Get("Retry-After")); s < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	time.Sleep(time.Until(both.Add(window)))
	f.mustCreate(t, alice, "c")
}

func TestQuotaBookkeeping(t *testing.T) {
	q := newQuotas(2, 3, time.Minute, time.Minute) // 2 rooms owned, 3 creations per minute
	t0 := time.Now()
	none := map[string]bool{}
	cases := []struct {
		name string
		step func() *Error
		code string
	}{
		{"first", func() *Error { return q.reserve("u", none, t0) }, ""},
		{"second while the first is in flight", func() *Error { return q.reserve("u", none, t0) }, ""},
		{"third: two in flight count as owned", func() *Error { return q.reserve("u", none, t0) }, "too_many_rooms"},
		{"after a refunded failure and a success", func() *Error {
			q.finish("u", "", true, t0)
			q.finish("u", "r1", false, t0)
			return q.reserve("u", none, t0)
		}, ""},
		{"an unrefunded failure still counts as a creation", func() *Error {
			q.finish("u", "", false, t0)
			return q.reserve("u", none, t0)
		}, ""},
		{"creations per window", func() *Error { return q.reserve("u", none, t0) }, "too_many_creations"},
		{"the projection's rooms count", func() *Error {
			return q.reserve("u", map[string]bool{"r2": true}, t0.Add(2*time.Minute))
		}, "too_many_rooms"},
		{"a created room stops counting after grace", func() *Error {
			return q.reserve("u", none, t0.Add(2*time.Minute))
		}, ""},
	}
	for _, tc := range cases {
		err := tc.step()
		if (err == nil) != (tc.code == "") || (err != nil && err.Code != tc.code) {
			t.Fatalf("%s: %v, want %q", tc.name, err, tc.code)
		}
	}
	// Users with nothing left to count are forgotten.
	q.finish("u", "", true, t0)
	for i := 0; i < 1100; i++ {
		id := fmt.Sprintf("user%d", i)
		q.reserve(id, none, t0)
		q.finish(id, "", true, t0)
	}
	if n := q.tracked(); n >= 1000 {
		t.Fatalf("%d users tracked: those with nothing counted were not forgotten", n)
	}
}
