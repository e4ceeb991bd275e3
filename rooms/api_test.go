package rooms

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

func TestRoomLifecycle(t *testing.T) {
	f := newFixture(t, nil, nil)
	// The category hides its rooms from @everyone but not from the bot's role, as docs/rooms.md
	// asks (the bot needs View Channel there); new rooms must keep that.
	hidden := discordrest.Overwrite{ID: guildID, Type: discordrest.OverwriteRole, Deny: permViewChannel}
	botSees := discordrest.Overwrite{ID: f.emu.Guilds()[0].BotRoleID, Type: discordrest.OverwriteRole, Allow: permViewChannel}
	f.patchChannel(t, categoryID, map[string]any{"permission_overwrites": []discordrest.Overwrite{hidden, botSees}})

	resp := f.create(t, alice, `{"name":"  Friday Commander  ","user_limit":4}`)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %+v", resp.Status, resp.Error)
	}
	room := resp.Body.(Room)
	if room.Name != "Friday Commander" || room.UserLimit != 4 || room.OwnerID != aliceID || room.MemberCount != 0 {
		t.Fatalf("created %+v", room)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/rooms/"+room.ID {
		t.Fatalf("Location %q", loc)
	}
	ch := f.channels(t)[room.ID]
	if ch.ParentID != categoryID || ch.Type != discordtest.ChannelTypeGuildVoice || ch.UserLimit != 4 {
		t.Fatalf("Discord holds %+v", ch)
	}
	got := make([]discordrest.Overwrite, 0, len(ch.PermissionOverwrites))
	for _, o := range ch.PermissionOverwrites {
		got = append(got, discordrest.Overwrite{ID: o.ID, Type: int(o.Type), Allow: discordrest.Permissions(o.Allow), Deny: discordrest.Permissions(o.Deny)})
	}
	if OwnerID(got) != aliceID || len(got) != 3 || got[0] != hidden || got[1] != botSees {
		t.Fatalf("overwrites %+v: want the category's and alice's owner mark", got)
	}

	// The worker reports the room; reads come from the projection.
	f.project(t, event.RoomState{Room: event.Room{ID: room.ID, Name: room.Name, UserLimit: 4, Position: room.Position, OwnerID: aliceID},
		Members: []event.Member{{UserID: bobID, Username: "bob"}}})
	list := f.do(t, call{method: "GET", path: "/api/rooms", caller: noDiscord})
	rl := list.Body.(RoomList)
	if list.Status != http.StatusOK || len(rl.Rooms) != 1 || rl.Rooms[0].MemberCount != 1 || rl.Rooms[0].OwnerID != aliceID || rl.AsOf.Seq != 1 {
		t.Fatalf("list: %d %+v", list.Status, list.Body)
	}
	one := f.do(t, call{method: "GET", path: "/api/rooms/" + room.ID, caller: bob})
	if d := one.Body.(RoomDetail); one.Status != http.StatusOK || d.ID != room.ID || len(d.Members) != 1 || d.Members[0].UserID != bobID {
		t.Fatalf("get: %d %+v", one.Status, one.Body)
	}

	if del := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: alice}); del.Status != http.StatusNoContent || del.Body != nil {
		t.Fatalf("delete: %d %+v", del.Status, del.Error)
	}
	if _, still := f.channels(t)[room.ID]; still {
		t.Fatal("the channel survived its deletion")
	}
}

func TestEmptyListAndUnknownRoom(t *testing.T) {
	f := newFixture(t, nil, nil)
	if r := f.do(t, call{method: "GET", path: "/api/rooms", caller: alice}); r.Status != 200 || len(r.Body.(RoomList).Rooms) != 0 {
		t.Fatalf("list: %d %+v", r.Status, r.Body)
	}
	for _, id := range []string{"1200000000000000009", lobbyID, "not-a-snowflake"} {
		if r := f.do(t, call{method: "GET", path: "/api/rooms/" + id, caller: alice}); r.Status != 404 || r.Error.Code != "room_not_found" {
			t.Fatalf("get %s: %d %+v", id, r.Status, r.Error)
		}
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t, nil, nil)
	cases := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"unknown path", "GET", "/api/other", 404, ""},
		{"trailing slash", "GET", "/api/rooms/", 404, ""},
		{"nested path", "GET", "/api/rooms/1200000000000000001/members", 404, ""},
		{"prefix only", "GET", "/api/roomsX", 404, ""},
		{"PUT on the collection", "PUT", "/api/rooms", 405, "GET, POST"},
		{"PATCH on a room", "PATCH", "/api/rooms/1200000000000000001", 405, "GET, DELETE"},
		{"POST on a room", "POST", "/api/rooms/1200000000000000001", 405, "GET, DELETE"},
		{"HEAD", "HEAD", "/api/rooms", 405, "GET, POST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, call{method: tc.method, path: tc.path, caller: alice})
			if r.Status != tc.status || r.Header.Get("Allow") != tc.allow || r.Route != "unmatched" {
				t.Fatalf("got %d Allow %q route %q", r.Status, r.Header.Get("Allow"), r.Route)
			}
		})
	}
}

func TestCreateRequestIsValidated(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 256 }, nil)
	long := strings.Repeat("é", 101)
	cases := []struct {
		name    string
		body    string
		header  map[string]string
		status  int
		code    string
		message string
	}{
		{"no content type", `{"name":"a"}`, map[string]string{"Content-Type": "<none>"}, 415, "unsupported_media_type", "application/json"},
		{"form content type", `name=a`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"malformed JSON", `{"name":`, nil, 400, "invalid_request", "JSON object"},
		{"an array", `[{"name":"a"}]`, nil, 400, "invalid_request", "JSON object"},
		{"trailing data", `{"name":"a"} {}`, nil, 400, "invalid_request", "JSON object"},
		{"unknown field", `{"name":"a","bitrate":64000}`, nil, 400, "invalid_request", `unknown field "bitrate"`},
		{"missing name", `{"user_limit":2}`, nil, 400, "invalid_request", "name: required"},
		{"null name", `{"name":null}`, nil, 400, "invalid_request", "name: must be a string"},
		{"name of another type", `{"name":7}`, nil, 400, "invalid_request", "name: must be a string"},
		{"empty name", `{"name":""}`, nil, 400, "invalid_request", "name: must not be empty"},
		{"blank name", `{"name":"  \t "}`, nil, 400, "invalid_request", "name: must not be empty"},
		{"name too long", `{"name":"` + long + `"}`, nil, 400, "invalid_request", "at most 100 characters"},
		{"control character", `{"name":"a\u0007b"}`, nil, 400, "invalid_request", "control characters"},
		{"user limit too high", `{"name":"a","user_limit":100}`, nil, 400, "invalid_request", "user_limit: must be 0-99"},
		{"negative user limit", `{"name":"a","user_limit":-1}`, nil, 400, "invalid_request", "user_limit"},
		{"fractional user limit", `{"name":"a","user_limit":1.5}`, nil, 400, "invalid_request", "user_limit: must be a whole number"},
		{"user limit as a string", `{"name":"a","user_limit":"3"}`, nil, 400, "invalid_request", "user_limit"},
		{"oversized body", `{"name":"` + strings.Repeat("a", 300) + `"}`, nil, 413, "too_large", "256 bytes"},
		{"bad idempotency key", `{"name":"a"}`, map[string]string{"Idempotency-Key": "has space"}, 400, "invalid_idempotency_key", ""},
		{"empty idempotency key", `{"name":"a"}`, map[string]string{"Idempotency-Key": ""}, 400, "invalid_idempotency_key", ""},
	}
	before := len(f.channels(t))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, call{method: "POST", path: "/api/rooms", body: tc.body, header: tc.header, caller: alice})
			if r.Status != tc.status || r.Error == nil || r.Error.Code != tc.code || !strings.Contains(r.Error.Message, tc.message) {
				t.Fatalf("got %d %+v, want %d %s %q", r.Status, r.Error, tc.status, tc.code, tc.message)
			}
		})
	}
	if after := len(f.channels(t)); after != before {
		t.Fatalf("refused requests changed Discord: %d channels, then %d", before, after)
	}
	// The largest accepted body is accepted; a name of exactly 100 characters too.
	if r := f.create(t, alice, `{"name":"`+strings.Repeat("é", 100)+`"}`); r.Status != http.StatusCreated {
		t.Fatalf("100 characters: %d %+v", r.Status, r.Error)
	}
}

func TestCreatingNeedsADiscordAccount(t *testing.T) {
	f := newFixture(t, nil, nil)
	if r := f.create(t, noDiscord, `{"name":"a"}`); r.Status != 403 || r.Error.Code != "discord_account_required" {
		t.Fatalf("got %d %+v", r.Status, r.Error)
	}
	stranger := Caller{Subject: "eve", DiscordID: strangerID}
	if r := f.create(t, stranger, `{"name":"a"}`); r.Status != 403 || r.Error.Code != "not_a_member" {
		t.Fatalf("non-member: %d %+v", r.Status, r.Error)
	}
	if f.roomsNamed(t, "a") != 0 {
		t.Fatal("a room was created")
	}
}

func TestAPIConfiguration(t *testing.T) {
	for _, base := range []string{"api/rooms", "/api/rooms/", "/api/{x}"} {
		if _, err := NewAPI(nil, base); err == nil {
			t.Errorf("base path %q accepted", base)
		}
	}
	cases := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"no guild", Config{CategoryID: categoryID}, "guild"},
		{"bad category", Config{GuildID: guildID, CategoryID: "0"}, "category"},
		{"negative body size", Config{GuildID: guildID, CategoryID: categoryID, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative owned rooms", Config{GuildID: guildID, CategoryID: categoryID, MaxOwnedRooms: -1}, "MaxOwnedRooms"},
		{"negative timeout", Config{GuildID: guildID, CategoryID: categoryID, RequestTimeout: -1}, "RequestTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewService(tc.cfg, nil, nil); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
	svc, err := NewService(Config{GuildID: guildID, CategoryID: categoryID}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := svc.Config()
	if c.MaxBodyBytes != 4096 || c.RequestTimeout != DefaultRequestTimeout || c.MaxOwnedRooms != 3 || c.CreationLimit != 5 ||
		c.IdempotencyKeys != 10000 || c.IdempotencyTTL != DefaultIdempotencyTTL {
		t.Fatalf("defaults %+v", c)
	}
}
