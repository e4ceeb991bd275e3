package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/rooms"
	"github.com/spellcoven/gateway/rooms/discordrest"
	"github.com/spellcoven/gateway/rooms/redisstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t *testing.T) (*redisstore.Store, *redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	return redisstore.New(client, "test:"), srv, client
}

func TestIdempotencyKeys(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	fp, other := []byte("fingerprint-1"), []byte("fingerprint-2")

	if _, claimed, err := s.ClaimIdempotencyKey(ctx, "k", fp, time.Minute); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	rec, claimed, err := s.ClaimIdempotencyKey(ctx, "k", other, time.Minute)
	if err != nil || claimed || string(rec.Fingerprint) != string(fp) || rec.Answer != nil {
		t.Fatalf("second claim: %+v %v %v", rec, claimed, err)
	}
	// Only the claimant finishes it.
	if err := s.FinishIdempotencyKey(ctx, "k", other, []byte(`{"x":1}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if rec, ok, _ := s.IdempotencyKey(ctx, "k"); !ok || rec.Answer != nil {
		t.Fatalf("another fingerprint finished the claim: %+v", rec)
	}
	if err := s.FinishIdempotencyKey(ctx, "k", fp, []byte(`{"status":201}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := s.IdempotencyKey(ctx, "k")
	if err != nil || !ok || string(rec.Answer) != `{"status":201}` {
		t.Fatalf("after finish: %+v %v %v", rec, ok, err)
	}
	if ttl := client.PTTL(ctx, "test:rooms:idem:k").Val(); ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("answer TTL %v, want the minute given", ttl)
	}
	// A final answer is not replaced.
	if err := s.FinishIdempotencyKey(ctx, "k", fp, []byte(`{"status":400}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := s.IdempotencyKey(ctx, "k"); string(rec.Answer) != `{"status":201}` {
		t.Fatalf("answer replaced: %s", rec.Answer)
	}

	// Releasing (no answer) lets the next request claim it.
	if _, claimed, _ := s.ClaimIdempotencyKey(ctx, "r", fp, time.Minute); !claimed {
		t.Fatal("claim r")
	}
	if err := s.FinishIdempotencyKey(ctx, "r", fp, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.IdempotencyKey(ctx, "r"); ok {
		t.Fatal("a released key is still held")
	}
	// A claim lapses with its lease, should its instance die.
	if _, claimed, _ := s.ClaimIdempotencyKey(ctx, "lapse", fp, 100*time.Millisecond); !claimed {
		t.Fatal("claim lapse")
	}
	time.Sleep(200 * time.Millisecond)
	if _, claimed, _ := s.ClaimIdempotencyKey(ctx, "lapse", other, time.Minute); !claimed {
		t.Fatal("a lapsed claim still holds the key")
	}
}

func TestCreationsPerWindow(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	t0 := time.Now()
	a, _, err := s.ReserveCreation(ctx, "u", t0, 2, time.Minute)
	if err != nil || a == "" {
		t.Fatalf("first: %q %v", a, err)
	}
	if b, _, _ := s.ReserveCreation(ctx, "u", t0.Add(10*time.Second), 2, time.Minute); b == "" {
		t.Fatal("second refused")
	}
	token, wait, err := s.ReserveCreation(ctx, "u", t0.Add(20*time.Second), 2, time.Minute)
	if err != nil || token != "" || wait < 39*time.Second || wait > 40*time.Second {
		t.Fatalf("third: %q wait %v %v; want refused until the first leaves the window (40 s)", token, wait, err)
	}
	if other, _, _ := s.ReserveCreation(ctx, "v", t0, 2, time.Minute); other == "" {
		t.Fatal("another user is refused")
	}
	if err := s.RefundCreation(ctx, "u", a); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := s.ReserveCreation(ctx, "u", t0.Add(20*time.Second), 2, time.Minute); c == "" {
		t.Fatal("a refunded creation still counts")
	}
	if d, _, _ := s.ReserveCreation(ctx, "u", t0.Add(71*time.Second), 2, time.Minute); d == "" {
		t.Fatal("creations that left the window still count")
	}
}

// edge is one instance's rooms API: its own hub and Discord client, the shared store.
type edge struct {
	api *rooms.API
}

const (
	guildID    = "1100000000000000001"
	categoryID = "1100000000000000002"
	aliceID    = "1300000000000000001"
	botToken   = "MTEwMDAwMDAwMDAwMDAwMDAw.Gtest.token-that-must-never-be-logged"
)

var alice = rooms.Caller{Subject: "alice", DiscordID: aliceID}

func newEdge(t *testing.T, emu *discordtest.Server, store rooms.SharedStore, mutate func(*rooms.Config)) *edge {
	t.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client, err := discordrest.New(discordrest.Config{BaseURL: emu.URL() + "/api/v10", Token: botToken, HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	e, err := event.New(event.Position{Epoch: "e1", Seq: 1}, guildID, time.Now(), event.Snapshot, event.SnapshotPayload{Rooms: []event.RoomState{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Ingest(context.Background(), &event.Batch{Epoch: "e1", Events: []event.Event{e}}); err != nil {
		t.Fatal(err)
	}
	cfg := rooms.Config{GuildID: guildID, CategoryID: categoryID, RequestTimeout: 3 * time.Second, Shared: store, SharedPollInterval: 10 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := rooms.NewService(cfg, client, h)
	if err != nil {
		t.Fatal(err)
	}
	api, err := rooms.NewAPI(svc, "")
	if err != nil {
		t.Fatal(err)
	}
	return &edge{api: api}
}

func (e *edge) post(body, key string) rooms.Response {
	r := httptest.NewRequest("POST", "/api/rooms", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	return e.api.Serve(r, alice)
}

func newEmulator(t *testing.T) *discordtest.Server {
	t.Helper()
	emu, err := discordtest.New(discordtest.Config{
		BotTokens: []string{botToken},
		Guilds:    []discordtest.GuildConfig{{ID: guildID, RoomsCategoryID: categoryID}},
		Users:     []discordtest.User{{ID: aliceID, Username: "alice"}},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu
}

func roomsNamed(t *testing.T, emu *discordtest.Server, name string) int {
	t.Helper()
	gs, err := emu.GuildState(guildID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range gs.Channels {
		if c.Name == name {
			n++
		}
	}
	return n
}

// TestEdgesShareIdempotencyKeys: two edge instances on one Redis. A retry sent to the other
// instance gets the first answer; retries racing on both while Discord is slow make one room; a
// key reused for another request is refused on either.
func TestEdgesShareIdempotencyKeys(t *testing.T) {
	store, _, _ := newStore(t)
	emu := newEmulator(t)
	a, b := newEdge(t, emu, store, nil), newEdge(t, emu, store, nil)

	first := a.post(`{"name":"Shared"}`, "key-1")
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %+v", first.Status, first.Error)
	}
	retry := b.post(`{"name":"Shared"}`, "key-1")
	if retry.Status != http.StatusCreated || retry.Header.Get("Idempotent-Replayed") != "true" ||
		retry.Body.(rooms.Room) != first.Body.(rooms.Room) || retry.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("retry on the other edge: %d %v %+v", retry.Status, retry.Header, retry.Body)
	}
	if r := b.post(`{"name":"Another"}`, "key-1"); r.Status != http.StatusUnprocessableEntity || r.Error.Code != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %+v", r.Status, r.Error)
	}
	// A refusal is final too, and replayed as such.
	if r := a.post(`{"name":"`+strings.Repeat("x", 101)+`"}`, "key-2"); r.Status != http.StatusBadRequest {
		t.Fatalf("bad name: %d", r.Status)
	}

	if err := emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultDelay, Delay: 300 * time.Millisecond, Route: "POST /guilds/{guild.id}/channels"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make(chan rooms.Response, 6)
	for i := range 6 {
		e := a
		if i%2 == 1 {
			e = b
		}
		wg.Go(func() { answers <- e.post(`{"name":"Raced"}`, "key-3") })
	}
	wg.Wait()
	close(answers)
	ids, replays := map[string]bool{}, 0
	for r := range answers {
		if r.Status != http.StatusCreated {
			t.Fatalf("raced: %d %+v", r.Status, r.Error)
		}
		ids[r.Body.(rooms.Room).ID] = true
		if r.Header.Get("Idempotent-Replayed") == "true" {
			replays++
		}
	}
	if len(ids) != 1 || replays != 5 || roomsNamed(t, emu, "Raced") != 1 {
		t.Fatalf("%d rooms, %d replays; want one room and 5 replays", len(ids), replays)
	}
	if n := roomsNamed(t, emu, "Shared"); n != 1 {
		t.Fatalf("%d rooms named Shared", n)
	}
}

// TestEdgesShareTheCreationLimit: creations on either instance count against one limit per window.
func TestEdgesShareTheCreationLimit(t *testing.T) {
	store, _, _ := newStore(t)
	emu := newEmulator(t)
	limits := func(c *rooms.Config) { c.CreationLimit, c.MaxOwnedRooms = 2, 100 }
	a, b := newEdge(t, emu, store, limits), newEdge(t, emu, store, limits)
	for i, e := range []*edge{a, b} {
		if r := e.post(`{"name":"Room"}`, ""); r.Status != http.StatusCreated {
			t.Fatalf("creation %d: %d %+v", i, r.Status, r.Error)
		}
	}
	r := a.post(`{"name":"Room"}`, "")
	if r.Status != http.StatusTooManyRequests || r.Error.Code != "too_many_creations" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third creation: %d %+v %v", r.Status, r.Error, r.Header)
	}
}

// TestSharedStoreDown: with Redis gone, creations are refused with 503 and create nothing, so that
// no retry on another instance could make a second room.
func TestSharedStoreDown(t *testing.T) {
	store, srv, _ := newStore(t)
	emu := newEmulator(t)
	a := newEdge(t, emu, store, func(c *rooms.Config) { c.SharedTimeout = 200 * time.Millisecond })
	srv.Stop()
	for _, key := range []string{"", "key-down"} {
		r := a.post(`{"name":"Down"}`, key)
		if r.Status != http.StatusServiceUnavailable || r.Error.Code != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("key %q: %d %+v", key, r.Status, r.Error)
		}
	}
	if n := roomsNamed(t, emu, "Down"); n != 0 {
		t.Fatalf("%d rooms created while the shared store was down", n)
	}
}

func TestOwnedRooms(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	t0 := time.Now()
	lease, grace := time.Minute, 5*time.Minute
	// One room in the projection, limit 3: two creations may run.
	a, n, err := s.ReserveOwned(ctx, "u", []string{"r1"}, 3, t0, lease, grace)
	if err != nil || a == "" || n != 1 {
		t.Fatalf("first: %q %d %v", a, n, err)
	}
	b, _, _ := s.ReserveOwned(ctx, "u", []string{"r1"}, 3, t0, lease, grace)
	if b == "" {
		t.Fatal("second refused")
	}
	if c, n, _ := s.ReserveOwned(ctx, "u", []string{"r1"}, 3, t0, lease, grace); c != "" || n != 3 {
		t.Fatalf("third: %q %d; want refused at 3 (one owned, two in flight)", c, n)
	}
	// a made room r2 (not in the projection yet); b made none.
	if err := s.FinishOwned(ctx, "u", a, "r2", t0, grace); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishOwned(ctx, "u", b, "", t0, grace); err != nil {
		t.Fatal(err)
	}
	if c, n, _ := s.ReserveOwned(ctx, "u", []string{"r1"}, 3, t0, lease, grace); c == "" || n != 2 {
		t.Fatalf("after the finishes: %q %d; want admitted at 2 (r1, and r2 just created)", c, n)
	}
	// Once the projection shows r2 it is not counted twice; a lapsed in-flight creation stops counting.
	if c, n, _ := s.ReserveOwned(ctx, "u", []string{"r1", "r2"}, 4, t0.Add(2*lease), lease, grace); c == "" || n != 2 {
		t.Fatalf("with r2 projected and the lease over: %q %d, want 2", c, n)
	}
	// A deleted room is forgotten: only the creation still in flight from the check above counts.
	if err := s.ForgetOwned(ctx, "u", "r2"); err != nil {
		t.Fatal(err)
	}
	d, n, _ := s.ReserveOwned(ctx, "u", nil, 2, t0.Add(2*lease), lease, grace)
	if d == "" || n != 1 {
		t.Fatalf("after forgetting r2: %q %d, want admitted at 1", d, n)
	}
	// A created room stops counting after grace.
	if err := s.FinishOwned(ctx, "u", d, "r3", t0.Add(2*lease), grace); err != nil {
		t.Fatal(err)
	}
	if c, n, _ := s.ReserveOwned(ctx, "u", nil, 1, t0.Add(2*lease+grace), lease, grace); c == "" || n != 0 {
		t.Fatalf("after grace: %q %d, want nothing counted", c, n)
	}
	if c, n, _ := s.ReserveOwned(ctx, "v", nil, 1, t0, lease, grace); c == "" || n != 0 {
		t.Fatalf("another user: %q %d", c, n)
	}
}

// TestEdgesShareRoomsOwned: with one room allowed, creations racing on two instances make one
// room; the other is refused, although neither instance's projection shows the room yet.
func TestEdgesShareRoomsOwned(t *testing.T) {
	store, _, _ := newStore(t)
	emu := newEmulator(t)
	limits := func(c *rooms.Config) { c.MaxOwnedRooms, c.CreationLimit = 1, 100 }
	a, b := newEdge(t, emu, store, limits), newEdge(t, emu, store, limits)
	if err := emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultDelay, Delay: 200 * time.Millisecond, Route: "POST /guilds/{guild.id}/channels"}); err != nil {
		t.Fatal(err)
	}
	answers := make(chan rooms.Response, 2)
	var wg sync.WaitGroup
	for _, e := range []*edge{a, b} {
		wg.Go(func() { answers <- e.post(`{"name":"Mine"}`, "") })
	}
	wg.Wait()
	close(answers)
	var created, refused int
	for r := range answers {
		switch {
		case r.Status == http.StatusCreated:
			created++
		case r.Status == http.StatusTooManyRequests && r.Error.Code == "too_many_rooms":
			refused++
		default:
			t.Fatalf("answer %d %+v", r.Status, r.Error)
		}
	}
	if created != 1 || refused != 1 || roomsNamed(t, emu, "Mine") != 1 {
		t.Fatalf("%d created, %d refused; want one of each", created, refused)
	}
	// Later, on the other instance too, the room created counts before the projection shows it.
	if r := b.post(`{"name":"Mine again"}`, ""); r.Status != http.StatusTooManyRequests {
		t.Fatalf("a second room: %d", r.Status)
	}
}
