package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/rooms"
)

// TestRoomsAcrossEdgesShareRedis: two edges with the Redis broker serve the rooms API. A POST
// retried with its Idempotency-Key on the other edge replays the first answer (one room in
// Discord), and creations on both count against one limit per window.
func TestRoomsAcrossEdgesShareRedis(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", redisPassword)
	var cfg edgetest.Config
	a := newRoomsStack(t, roomsOptions{
		rooms: "max_creations 2\n\t\t\tmax_owned_rooms 100",
		edge: func(c *edgetest.Config) {
			c.Global += "\n\t\tbroker redis {env.REDIS_URL}"
			c.Env = append(c.Env, fmt.Sprintf("REDIS_URL=redis://:%s@%s/0", redisPassword, srv.Addr()))
			cfg = *c
		},
	})
	b := &roomsStack{stack: &stack{idp: a.idp, edge: edgetest.Start(t, cfg)}, emu: a.emu}

	key := map[string]string{"Idempotency-Key": "across-edges-1"}
	first := a.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Across"}`, key)
	if first.status != http.StatusCreated {
		t.Fatalf("first on A: %d %s", first.status, first.body)
	}
	retry := b.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Across"}`, key)
	if retry.status != http.StatusCreated || retry.header.Get("Idempotent-Replayed") != "true" ||
		string(retry.body) != string(first.body) || retry.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("retry on B: %d %v %s, first %s", retry.status, retry.header, retry.body, first.body)
	}
	var room rooms.Room
	if err := json.Unmarshal(first.body, &room); err != nil {
		t.Fatal(err)
	}
	gs, err := a.emu.GuildState(edgetest.GuildID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range gs.Channels {
		if c.Name == "Across" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d rooms named Across in Discord, want 1", n)
	}

	// The limit is 2 per window: one made above on A, one now on B, the next refused on A.
	if r := b.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Second"}`, nil); r.status != http.StatusCreated {
		t.Fatalf("second creation on B: %d %s", r.status, r.body)
	}
	r := a.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Third"}`, nil)
	if r.status != http.StatusTooManyRequests || r.errorCode() != "too_many_creations" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third creation on A: %d %v %s", r.status, r.header, r.body)
	}
}
