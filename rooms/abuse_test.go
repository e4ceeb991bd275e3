package rooms

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/spellcoven/gateway/discordtest"
)

// TestDeletesNoOneMayMakeNeverReachDiscord: a DELETE of an id that is not a room, or of a room the
// caller does not own, is answered without a Discord call: a user cannot spend the bot's budget of
// refused requests (Discord bans the bot's IP past 10,000 in 10 minutes; the client refuses every
// call past its own guard), and so cannot cut the rooms API off for everyone.
func TestDeletesNoOneMayMakeNeverReachDiscord(t *testing.T) {
	f := newFixture(t, nil, nil)
	bobsRoom := f.mustCreate(t, bob, "Bob's table")
	hidden, err := f.emu.CreateChannel(guildID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Hidden", ParentID: otherCatID})
	if err != nil {
		t.Fatal(err)
	}
	f.mirror(t)
	before := f.emu.Stats().RESTRequests
	for i := 0; i < 200; i++ {
		for _, c := range []struct {
			id     string
			status int
		}{
			{bobsRoom.ID, http.StatusForbidden},
			{hidden.ID, http.StatusNotFound},
			{otherVoice, http.StatusNotFound},
			{"1200000000000000999", http.StatusNotFound},
		} {
			if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + c.id, caller: alice}); r.Status != c.status {
				t.Fatalf("DELETE %s: %d %+v, want %d", c.id, r.Status, r.Error, c.status)
			}
		}
	}
	if n := f.emu.Stats().RESTRequests - before; n != 0 {
		t.Fatalf("%d Discord requests for 800 refused DELETEs", n)
	}
	if _, exists := f.channels(t)[bobsRoom.ID]; !exists {
		t.Fatal("bob's room is gone")
	}
}

// TestRefusedCreationsCount: a user whom Discord refuses (not a member of the server) spends their
// creations like anyone: max_creations bounds the Discord calls they cause.
func TestRefusedCreationsCount(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CreationLimit = 3 }, nil)
	stranger := Caller{Subject: "eve", DiscordID: strangerID}
	before := f.emu.Stats().RESTRequests
	for i := 0; i < 3; i++ {
		if r := f.create(t, stranger, `{"name":"a"}`); r.Status != http.StatusForbidden || r.Error.Code != "not_a_member" {
			t.Fatalf("attempt %d: %d %+v", i, r.Status, r.Error)
		}
	}
	for i := 0; i < 40; i++ {
		if r := f.create(t, stranger, `{"name":"a"}`); r.Status != http.StatusTooManyRequests || r.Error.Code != "too_many_creations" {
			t.Fatalf("attempt %d past the limit: %d %+v", 3+i, r.Status, r.Error)
		}
	}
	// The category is read once; each counted attempt is one creation.
	if n := f.emu.Stats().RESTRequests - before; n > 4 {
		t.Fatalf("%d Discord requests for 3 allowed attempts", n)
	}
}

// TestRequestRatePerUser: one user past their rate is refused with Retry-After; another is not.
func TestRequestRatePerUser(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RequestRate, c.RequestBurst = 0.01, 3 }, nil)
	for i := 0; i < 3; i++ {
		if r := f.do(t, call{method: "GET", path: "/api/rooms", caller: alice}); r.Status != http.StatusOK {
			t.Fatalf("request %d: %d", i, r.Status)
		}
	}
	for _, c := range []call{{method: "GET", path: "/api/rooms"}, {method: "GET", path: "/api/rooms/1200000000000000999"}, {method: "POST", path: "/api/rooms", body: `{"name":"a"}`}, {method: "DELETE", path: "/api/rooms/1200000000000000999"},
		{method: "PUT", path: "/api/rooms/1200000000000000999/table"}, {method: "DELETE", path: "/api/rooms/1200000000000000999/table"}} {
		c.caller = alice
		r := f.do(t, c)
		if r.Status != http.StatusTooManyRequests || r.Error.Code != "too_many_requests" || r.Header.Get("Retry-After") != "100" {
			t.Fatalf("%s past the rate: %d %+v %v", c.method, r.Status, r.Error, r.Header)
		}
	}
	if r := f.do(t, call{method: "GET", path: "/api/rooms", caller: bob}); r.Status != http.StatusOK {
		t.Fatalf("another user: %d", r.Status)
	}
}

// TestIdempotencyKeysOfOneUserNeverEvictAnother: a user's keys beyond their share evict their own
// answers, so another user's retry still replays its first answer instead of creating a second room.
func TestIdempotencyKeysOfOneUserNeverEvictAnother(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.IdempotencyKeys, c.IdempotencyKeysPerUser, c.CreationLimit, c.MaxOwnedRooms = 10, 3, 100, 100
	}, nil)
	first := f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"bob's"}`, header: map[string]string{"Idempotency-Key": "bob-1"}, caller: bob})
	if first.Status != http.StatusCreated {
		t.Fatalf("bob: %d %+v", first.Status, first.Error)
	}
	for i := 0; i < 30; i++ {
		key := "alice-" + strconv.Itoa(i)
		if r := f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"x` + strconv.Itoa(i) + `"}`, header: map[string]string{"Idempotency-Key": key}, caller: alice}); r.Status != http.StatusCreated {
			t.Fatalf("alice %d: %d %+v", i, r.Status, r.Error)
		}
	}
	again := f.do(t, call{method: "POST", path: "/api/rooms", body: `{"name":"bob's"}`, header: map[string]string{"Idempotency-Key": "bob-1"}, caller: bob})
	if again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || again.Body.(Room).ID != first.Body.(Room).ID {
		t.Fatalf("bob's retry: %d %v %+v", again.Status, again.Header, again.Body)
	}
	if n := f.roomsNamed(t, "bob's"); n != 1 {
		t.Fatalf("%d rooms named bob's", n)
	}
	if n := f.svc.idem.len(); n > 4 {
		t.Fatalf("%d answers kept: alice's share is 3", n)
	}
}

// TestARoomJustCreatedCanBeDeletedByItsOwner: before the projection shows it, the room this edge
// created is its creator's to delete, and no one else's.
func TestARoomJustCreatedCanBeDeletedByItsOwner(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := f.mustCreate(t, alice, "quick")
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: bob}); r.Status != http.StatusForbidden {
		t.Fatalf("bob: %d %+v", r.Status, r.Error)
	}
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: alice}); r.Status != http.StatusNoContent {
		t.Fatalf("alice: %d %+v", r.Status, r.Error)
	}
}
