package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/rooms"
)

// The Discord side of the rooms tests: the rooms category, a channel outside it, and three people.
const (
	roomsCategory = "1100000000000000002"
	staffCategory = "1100000000000000010"
	staffRoom     = "1100000000000000011"
	aliceDiscord  = "1300000000000000001"
	bobDiscord    = "1300000000000000002"
	carolDiscord  = "1300000000000000003"
)

// roomsStack is an emulated Discord, an identity provider and an edge serving the rooms API.
type roomsStack struct {
	*stack
	emu *discordtest.Server
}

// roomsOptions vary a rooms stack.
type roomsOptions struct {
	// rooms holds extra lines of the coven_rooms block.
	rooms string
	// emulator adjusts the emulator's configuration.
	emulator func(*discordtest.Config)
	// edge adjusts the edge's configuration.
	edge func(*edgetest.Config)
}

func newRoomsStack(t testing.TB, o roomsOptions) *roomsStack {
	t.Helper()
	ecfg := discordtest.Config{
		BotTokens: []string{edgetest.BotToken},
		Guilds: []discordtest.GuildConfig{{ID: edgetest.GuildID, RoomsCategoryID: roomsCategory, Channels: []discordtest.Channel{
			{ID: staffCategory, Type: discordtest.ChannelTypeGuildCategory, Name: "Staff"},
			{ID: staffRoom, Type: discordtest.ChannelTypeGuildVoice, Name: "Staff room", ParentID: staffCategory},
		}}},
		Users: []discordtest.User{
			{ID: aliceDiscord, Username: "alice"}, {ID: bobDiscord, Username: "bob"}, {ID: carolDiscord, Username: "carol"},
		},
		REST: discordtest.RESTConfig{RateLimitsDisabled: true},
	}
	if o.emulator != nil {
		o.emulator(&ecfg)
	}
	emu, err := discordtest.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	s := newStack(t, func(c *edgetest.Config) {
		c.Global = fmt.Sprintf("category %s\n\t\tdiscord_api %s/api/v10\n\t\tdiscord_limits {\n\t\t\tbackoff_base 50ms\n\t\t\tbackoff_max 200ms\n\t\t}",
			roomsCategory, emu.URL())
		c.Site = "route /api/rooms* {\n\t\tcoven_jwt\n\t\tcoven_rooms {\n\t\t\t" + o.rooms + "\n\t\t}\n\t}"
		if o.edge != nil {
			o.edge(c)
		}
	})
	return &roomsStack{stack: s, emu: emu}
}

// player is a signed-in person: a subject, and the claims that link them to Discord.
type player struct {
	sub       string
	discordID string
	admin     bool
}

var (
	alicePlayer = player{"alice", aliceDiscord, false}
	bobPlayer   = player{"bob", bobDiscord, false}
	carolAdmin  = player{"carol", carolDiscord, true}
)

func (s *roomsStack) tokenFor(t *testing.T, p player) string {
	t.Helper()
	extra := map[string]any{"admin": p.admin}
	if p.discordID != "" {
		extra["discord_id"] = p.discordID
	}
	tok, err := s.idp.MintFor(p.sub, edgetest.Audience, time.Hour, extra)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// answer is an HTTP answer of the edge.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the code of a JSON error answer, or "" for any other body.
func (a answer) errorCode() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(a.body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

// api sends a request to the rooms API as p (no token when p.sub is empty).
func (s *roomsStack) api(t *testing.T, p player, method, path, body string, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.edge.URL(path), rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.sub != "" {
		req.Header.Set("Authorization", "Bearer "+s.tokenFor(t, p))
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if bytes.Contains(b, []byte(edgetest.BotToken)) {
		t.Fatalf("an answer shows the bot token: %s", b)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func (s *roomsStack) create(t *testing.T, p player, name string) rooms.Room {
	t.Helper()
	a := s.api(t, p, "POST", "/api/rooms", `{"name":"`+name+`"}`, nil)
	if a.status != http.StatusCreated {
		t.Fatalf("create %q: %d %s", name, a.status, a.body)
	}
	var r rooms.Room
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// channel returns the emulator's channel with id, if any.
func (s *roomsStack) channel(t *testing.T, id string) (discordtest.Channel, bool) {
	t.Helper()
	gs, err := s.emu.GuildState(edgetest.GuildID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range gs.Channels {
		if c.ID == id {
			return c, true
		}
	}
	return discordtest.Channel{}, false
}

func (s *roomsStack) countNamed(t *testing.T, name string) int {
	gs, _ := s.emu.GuildState(edgetest.GuildID)
	n := 0
	for _, c := range gs.Channels {
		if c.Name == name {
			n++
		}
	}
	return n
}

func TestRoomsAPIEveryRoute(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{})
	a := s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Friday Commander","user_limit":4}`, nil)
	if a.status != http.StatusCreated || a.header.Get("Location") == "" || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("create: %d %v %s", a.status, a.header, a.body)
	}
	var room rooms.Room
	json.Unmarshal(a.body, &room)
	ch, ok := s.channel(t, room.ID)
	if !ok || ch.ParentID != roomsCategory || ch.UserLimit != 4 || ch.Name != "Friday Commander" || room.OwnerID != aliceDiscord {
		t.Fatalf("Discord holds %+v (found %v), answer %+v", ch, ok, room)
	}

	// The worker reports the room and a player in it; reads answer from that projection.
	b := &edgetest.Batches{Epoch: "ep1"}
	snap := b.Event(t, event.Snapshot, event.SnapshotPayload{Rooms: []event.RoomState{{
		Room:    event.Room{ID: room.ID, Name: room.Name, UserLimit: 4, Position: room.Position, OwnerID: aliceDiscord},
		Members: []event.Member{{UserID: bobDiscord, Username: "bob"}},
	}}})
	if code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1", snap)); code != http.StatusOK {
		t.Fatalf("seeding: %d %s", code, body)
	}
	list := s.api(t, bobPlayer, "GET", "/api/rooms", "", nil)
	var rl rooms.RoomList
	if err := json.Unmarshal(list.body, &rl); err != nil || list.status != 200 || len(rl.Rooms) != 1 || rl.Rooms[0].MemberCount != 1 || rl.AsOf.Seq != 1 {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	one := s.api(t, bobPlayer, "GET", "/api/rooms/"+room.ID, "", nil)
	var rd rooms.RoomDetail
	if err := json.Unmarshal(one.body, &rd); err != nil || one.status != 200 || len(rd.Members) != 1 || rd.OwnerID != aliceDiscord {
		t.Fatalf("get: %d %s", one.status, one.body)
	}
	if del := s.api(t, alicePlayer, "DELETE", "/api/rooms/"+room.ID, "", nil); del.status != http.StatusNoContent || len(del.body) != 0 {
		t.Fatalf("delete: %d %s", del.status, del.body)
	}
	if _, still := s.channel(t, room.ID); still {
		t.Fatal("the channel survived")
	}
	// The answers are counted.
	m := get(t, s.edge.URL("/metrics"))
	for _, want := range []string{
		`coven_rooms_requests_total{code="201",route="POST /api/rooms"} 1`,
		`coven_rooms_requests_total{code="204",route="DELETE /api/rooms/{id}"} 1`,
		`coven_discord_requests_total{result="ok",route="POST /guilds/{guild.id}/channels"} 1`,
		`coven_discord_invalid_requests 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRoomsAPIRefusals(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{rooms: "max_body 1KiB"})
	alices := s.create(t, alicePlayer, "Alice's table")
	cases := []struct {
		name         string
		who          player
		method, path string
		body         string
		header       map[string]string
		status       int
		code         string
	}{
		{"no token", player{}, "GET", "/api/rooms", "", nil, 401, "unauthorized"},
		{"malformed body", alicePlayer, "POST", "/api/rooms", `{"name":`, nil, 400, "invalid_request"},
		{"unknown field", alicePlayer, "POST", "/api/rooms", `{"name":"a","parent_id":"1"}`, nil, 400, "invalid_request"},
		{"invalid name", alicePlayer, "POST", "/api/rooms", `{"name":"\u0000"}`, nil, 400, "invalid_request"},
		{"oversized body", alicePlayer, "POST", "/api/rooms", `{"name":"` + strings.Repeat("x", 2048) + `"}`, nil, 413, "too_large"},
		{"not JSON", alicePlayer, "POST", "/api/rooms", `name=a`, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"no Discord account", player{sub: "dave"}, "POST", "/api/rooms", `{"name":"a"}`, nil, 403, "discord_account_required"},
		{"a channel outside the category", carolAdmin, "DELETE", "/api/rooms/" + staffRoom, "", nil, 404, "room_not_found"},
		{"the category itself", carolAdmin, "DELETE", "/api/rooms/" + roomsCategory, "", nil, 404, "room_not_found"},
		{"reading a channel outside the category", carolAdmin, "GET", "/api/rooms/" + staffRoom, "", nil, 404, "room_not_found"},
		{"someone else's room", bobPlayer, "DELETE", "/api/rooms/" + alices.ID, "", nil, 403, "not_owner"},
		{"unknown route", alicePlayer, "GET", "/api/roomsets", "", nil, 404, "not_found"},
		{"unknown method", alicePlayer, "PUT", "/api/rooms", "", nil, 405, "method_not_allowed"},
		{"an administrator deletes any room", carolAdmin, "DELETE", "/api/rooms/" + alices.ID, "", nil, 204, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := s.api(t, tc.who, tc.method, tc.path, tc.body, tc.header)
			if a.status != tc.status || a.errorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tc.status, tc.code)
			}
		})
	}
	if _, ok := s.channel(t, staffRoom); !ok {
		t.Fatal("a channel outside the category was deleted")
	}
	if _, ok := s.channel(t, alices.ID); ok {
		t.Fatal("the administrator's delete did not happen")
	}
}

func TestRoomsAPIQuotas(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{rooms: "max_owned_rooms 2\n\t\t\tmax_creations 3\n\t\t\tcreation_window 1h"})
	first := s.create(t, alicePlayer, "one")
	s.create(t, alicePlayer, "two")
	a := s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"three"}`, nil)
	if a.status != 429 || a.errorCode() != "too_many_rooms" || a.header.Get("Retry-After") == "" {
		t.Fatalf("third owned room: %d %v %s", a.status, a.header, a.body)
	}
	if d := s.api(t, alicePlayer, "DELETE", "/api/rooms/"+first.ID, "", nil); d.status != 204 {
		t.Fatalf("delete: %d %s", d.status, d.body)
	}
	s.create(t, alicePlayer, "three")
	// Three creations in the window are the most; the limit lifts when the first leaves the window.
	if d := s.api(t, alicePlayer, "DELETE", "/api/rooms/"+first.ID, "", nil); d.status != 404 {
		t.Fatalf("delete again: %d", d.status)
	}
	a = s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"four"}`, nil)
	retry, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != 429 || a.errorCode() != "too_many_creations" || retry < 3000 || retry > 3600 {
		t.Fatalf("fourth creation: %d Retry-After %d %s", a.status, retry, a.body)
	}
	// Bob is not affected by Alice's limits.
	s.create(t, bobPlayer, "bob's")
}

func TestRoomsAPIIdempotentRetries(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{})
	key := map[string]string{"Idempotency-Key": "0f6e3a52-first"}
	first := s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Retried"}`, key)
	again := s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Retried"}`, key)
	if first.status != 201 || again.status != 201 || !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %s, retry %d %v %s", first.status, first.body, again.status, again.header, again.body)
	}
	if other := s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"Something else"}`, key); other.status != 422 || other.errorCode() != "idempotency_key_reused" {
		t.Fatalf("same key, other body: %d %s", other.status, other.body)
	}
	if n := s.countNamed(t, "Retried"); n != 1 {
		t.Fatalf("%d rooms after a retry, want 1", n)
	}

	// Concurrent retries while Discord is slow all get the one room.
	if err := s.emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultDelay, Delay: 500 * time.Millisecond,
		Route: "POST /guilds/{guild.id}/channels"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make(chan answer, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- s.api(t, bobPlayer, "POST", "/api/rooms", `{"name":"Concurrent"}`, map[string]string{"Idempotency-Key": "k2"})
		}()
	}
	wg.Wait()
	close(answers)
	var bodies []string
	for a := range answers {
		if a.status != 201 {
			t.Fatalf("concurrent retry: %d %s", a.status, a.body)
		}
		bodies = append(bodies, string(a.body))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("different answers: %s and %s", bodies[0], b)
		}
	}
	if n := s.countNamed(t, "Concurrent"); n != 1 {
		t.Fatalf("%d rooms after concurrent retries, want 1", n)
	}
}

func TestRoomsAPIWhenDiscordMisbehaves(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{rooms: "request_timeout 2s"})
	const create = "POST /guilds/{guild.id}/channels"
	cases := []struct {
		name   string
		fault  discordtest.RESTFault
		status int
		code   string
		retry  bool // Retry-After expected
	}{
		{"a short 429 storm is waited out", discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Route: create, Count: 3, RetryAfter: 50 * time.Millisecond}, 201, "", false},
		{"Discord 5xx", discordtest.RESTFault{Kind: discordtest.FaultServerError, Route: create, Count: 1, Status: 500}, 502, "discord_error", false},
		{"Discord slower than the request timeout", discordtest.RESTFault{Kind: discordtest.FaultDelay, Route: create, Count: 1, Delay: 5 * time.Second}, 503, "discord_timeout", true},
		{"a 429 storm longer than the request timeout", discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Route: create, RetryAfter: 60 * time.Second}, 503, "discord_rate_limited", true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.emu.ClearRESTFaults()
			if err := s.emu.AddRESTFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			// Each case as another player: the per-user limits stay out of the way.
			p := []player{alicePlayer, bobPlayer, carolAdmin, {sub: "dave", discordID: aliceDiscord}}[i]
			a := s.api(t, p, "POST", "/api/rooms", fmt.Sprintf(`{"name":"case %d"}`, i), nil)
			if a.status != tc.status || a.errorCode() != tc.code || (a.header.Get("Retry-After") != "") != tc.retry {
				t.Fatalf("got %d %v %s, want %d %s", a.status, a.header, a.body, tc.status, tc.code)
			}
		})
	}
}

func TestRoomsAPIRejectedBotToken(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{emulator: func(c *discordtest.Config) { c.BotTokens = []string{"a-token-the-edge-does-not-have"} }})
	for i := 0; i < 3; i++ {
		a := s.api(t, alicePlayer, "POST", "/api/rooms", `{"name":"x"}`, nil)
		if a.status != 503 || a.errorCode() != "discord_unavailable" || a.header.Get("Retry-After") == "" {
			t.Fatalf("create %d: %d %v %s", i, a.status, a.header, a.body)
		}
	}
	// One 401 and then no more calls: Discord's invalid-request count is not fed.
	if n := s.emu.InvalidRequests(); n != 1 {
		t.Fatalf("Discord counted %d invalid requests, want 1", n)
	}
	var rep struct {
		Status   string
		Problems []string
		Discord  struct {
			TokenRejected bool `json:"token_rejected"`
		}
	}
	if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "degraded" || !rep.Discord.TokenRejected || !strings.Contains(strings.Join(rep.Problems, ";"), "bot token") {
		t.Fatalf("health %+v", rep)
	}
	logs := s.edge.Logs.String()
	if !strings.Contains(logs, "Discord rejected the bot token") {
		t.Fatal("the logs do not say that the token was rejected")
	}
}

func TestRoomsAPIStopsBeforeDiscordBansIt(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{edge: func(c *edgetest.Config) {
		c.Global = strings.Replace(c.Global, "discord_limits {", "discord_limits {\n\t\t\tinvalid_requests 3", 1)
	}})
	// The bot lost its permissions: every change Discord refuses with 403, which counts towards the ban.
	if err := s.emu.SetBotPermissions(edgetest.GuildID, 0); err != nil {
		t.Fatal(err)
	}
	players := []player{alicePlayer, bobPlayer, carolAdmin, {sub: "dave", discordID: aliceDiscord}, {sub: "erin", discordID: bobDiscord}}
	var codes []string
	for i, p := range players {
		a := s.api(t, p, "POST", "/api/rooms", fmt.Sprintf(`{"name":"room %d"}`, i), nil)
		codes = append(codes, fmt.Sprintf("%d %s", a.status, a.errorCode()))
	}
	want := []string{"502 discord_forbidden", "502 discord_forbidden", "502 discord_forbidden", "503 discord_unavailable", "503 discord_unavailable"}
	if strings.Join(codes, ",") != strings.Join(want, ",") {
		t.Fatalf("answers %v, want %v", codes, want)
	}
	if n := s.emu.InvalidRequests(); n != 3 {
		t.Fatalf("Discord counted %d invalid requests, want 3: the edge kept calling", n)
	}
	if m := get(t, s.edge.URL("/metrics")); !strings.Contains(m, "coven_discord_invalid_requests 3") {
		t.Fatal("the metric does not show the invalid requests")
	}
}

func TestRoomsAPINeverShowsTheBotToken(t *testing.T) {
	s := newRoomsStack(t, roomsOptions{})
	room := s.create(t, alicePlayer, "Secret table")
	s.api(t, bobPlayer, "DELETE", "/api/rooms/"+room.ID, "", nil)
	s.emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultServerError, Count: 1})
	s.api(t, alicePlayer, "DELETE", "/api/rooms/"+room.ID, "", nil)
	s.emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Count: 1, RetryAfter: 10 * time.Millisecond})
	s.api(t, bobPlayer, "POST", "/api/rooms", `{"name":"another"}`, nil)
	get(t, s.edge.URL("/healthz"))
	get(t, s.edge.URL("/metrics"))
	s.edge.Stop(15) // SIGTERM: shutdown logs too
	logs := s.edge.Logs.String()
	if !strings.Contains(logs, `"level":"debug"`) || !strings.Contains(logs, "room created") {
		t.Fatal("the edge logged too little for this check to mean anything")
	}
	for _, secret := range []string{edgetest.BotToken, strings.SplitN(edgetest.BotToken, ".", 2)[1]} {
		if strings.Contains(logs, secret) {
			t.Fatal("the bot token appears in the logs")
		}
	}
}
