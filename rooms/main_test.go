package rooms

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// With the whole suite run, every status the OpenAPI description documents for a route must
	// have been answered by some test, and every status answered must be documented.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if err := checkOpenAPICoverage(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	testToken   = "MTEwMDAwMDAwMDAwMDAwMDAw.Gtest.token-that-must-never-be-logged"
	guildID     = "1100000000000000001"
	categoryID  = "1100000000000000002"
	otherCatID  = "1100000000000000010"
	otherVoice  = "1100000000000000011"
	textInRooms = "1100000000000000012"
	lobbyID     = "1100000000000000013"
	aliceID     = "1300000000000000001"
	bobID       = "1300000000000000002"
	strangerID  = "1300000000000000099" // not a member of the guild
)

// waitLimit bounds every wait of these tests; nothing legitimate comes close to it.
const waitLimit = 10 * time.Second

var (
	alice     = Caller{Subject: "alice", DiscordID: aliceID}
	bob       = Caller{Subject: "bob", DiscordID: bobID}
	admin     = Caller{Subject: "carol", Admin: true}
	noDiscord = Caller{Subject: "dave"}
)

// fixture is a service over a real emulator, a real REST client and a real hub.
type fixture struct {
	emu  *discordtest.Server
	hub  *hub.Hub
	svc  *Service
	api  *API
	snap int // snapshots ingested, one epoch each
}

func newFixture(t *testing.T, mutate func(*Config), mutateEmu func(*discordtest.Config)) *fixture {
	t.Helper()
	ecfg := discordtest.Config{
		BotTokens: []string{testToken},
		Guilds: []discordtest.GuildConfig{{ID: guildID, RoomsCategoryID: categoryID, Channels: []discordtest.Channel{
			{ID: otherCatID, Type: discordtest.ChannelTypeGuildCategory, Name: "Staff"},
			{ID: otherVoice, Type: discordtest.ChannelTypeGuildVoice, Name: "Staff room", ParentID: otherCatID},
			{ID: textInRooms, Type: discordtest.ChannelTypeGuildText, Name: "rules", ParentID: categoryID},
			{ID: lobbyID, Type: discordtest.ChannelTypeGuildVoice, Name: "Lobby", ParentID: categoryID},
		}}},
		Users: []discordtest.User{{ID: aliceID, Username: "alice"}, {ID: bobID, Username: "bob"}},
		REST:  discordtest.RESTConfig{RateLimitsDisabled: true},
	}
	if mutateEmu != nil {
		mutateEmu(&ecfg)
	}
	emu, err := discordtest.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })

	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client, err := discordrest.New(discordrest.Config{
		BaseURL: emu.URL() + "/api/v10", Token: testToken, HTTPClient: &http.Client{Transport: transport},
		BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
	})
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

	// Tests call far faster than a person; the test of the request rate sets its own.
	cfg := Config{GuildID: guildID, CategoryID: categoryID, RequestTimeout: 2 * time.Second, RequestRate: 1e6, RequestBurst: 1e6}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := NewService(cfg, client, h)
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewAPI(svc, "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{emu: emu, hub: h, svc: svc, api: api}
	f.project(t)
	return f
}

// project makes the hub's projection hold exactly rooms, as a worker's snapshot would.
func (f *fixture) project(t *testing.T, rooms ...event.RoomState) {
	t.Helper()
	f.snap++
	if rooms == nil {
		rooms = []event.RoomState{}
	}
	for i := range rooms {
		if rooms[i].Members == nil {
			rooms[i].Members = []event.Member{}
		}
	}
	epoch := fmt.Sprintf("ep%d", f.snap)
	e, err := event.New(event.Position{Epoch: epoch, Seq: 1}, guildID, time.Now(), event.Snapshot, event.SnapshotPayload{Rooms: rooms})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.hub.Ingest(context.Background(), &event.Batch{Epoch: epoch, Events: []event.Event{e}}); err != nil {
		t.Fatal(err)
	}
}

// mirror projects the emulator's rooms (the category's voice channels, with their owners), as the
// worker would.
func (f *fixture) mirror(t *testing.T) {
	t.Helper()
	var rooms []event.RoomState
	for _, c := range f.channels(t) {
		if c.Type != discordtest.ChannelTypeGuildVoice || c.ParentID != categoryID {
			continue
		}
		var ows []discordrest.Overwrite
		for _, o := range c.PermissionOverwrites {
			ows = append(ows, discordrest.Overwrite{ID: o.ID, Type: int(o.Type), Allow: discordrest.Permissions(o.Allow), Deny: discordrest.Permissions(o.Deny)})
		}
		rooms = append(rooms, event.RoomState{Room: event.Room{ID: c.ID, Name: c.Name, OwnerID: OwnerID(ows)}})
	}
	f.project(t, rooms...)
}

// call is one API request.
type call struct {
	method, path string
	body         string
	header       map[string]string
	caller       Caller
}

// observed records every route and status the tests saw, for the OpenAPI check.
var observed = struct {
	sync.Mutex
	m map[string]map[int]bool
}{m: make(map[string]map[int]bool)}

// do serves c and returns the answer, checking that error answers are well formed.
func (f *fixture) do(t *testing.T, c call) Response {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := httptest.NewRequestWithContext(context.Background(), c.method, c.path, body)
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		if v == "<none>" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	resp := f.api.Serve(r, c.caller)
	if resp.Error != nil {
		if resp.Status != resp.Error.Status || resp.Error.Code == "" || resp.Error.Message == "" {
			t.Fatalf("malformed error answer %+v", resp)
		}
		if (resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable) && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%d without Retry-After: %+v", resp.Status, resp.Error)
		}
		if strings.Contains(resp.Error.Message, testToken) {
			t.Fatal("the token appears in an answer")
		}
	}
	observed.Lock()
	if observed.m[resp.Route] == nil {
		observed.m[resp.Route] = make(map[int]bool)
	}
	observed.m[resp.Route][resp.Status] = true
	observed.Unlock()
	return resp
}

func (f *fixture) create(t *testing.T, caller Caller, body string) Response {
	t.Helper()
	return f.do(t, call{method: "POST", path: "/api/rooms", body: body, caller: caller})
}

// mustCreate creates a room and returns it.
func (f *fixture) mustCreate(t *testing.T, caller Caller, name string) Room {
	t.Helper()
	resp := f.create(t, caller, `{"name":"`+name+`"}`)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create %q: %d %+v", name, resp.Status, resp.Error)
	}
	return resp.Body.(Room)
}

// channels returns the emulator's channels by id.
func (f *fixture) channels(t *testing.T) map[string]discordtest.Channel {
	t.Helper()
	gs, err := f.emu.GuildState(guildID)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]discordtest.Channel)
	for _, c := range gs.Channels {
		out[c.ID] = c
	}
	return out
}

// roomsNamed counts the emulator's channels named name.
func (f *fixture) roomsNamed(t *testing.T, name string) int {
	n := 0
	for _, c := range f.channels(t) {
		if c.Name == name {
			n++
		}
	}
	return n
}

// patchChannel changes a channel through the emulator's REST API, as an admin in Discord would.
func (f *fixture) patchChannel(t *testing.T, id string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPatch, f.emu.URL()+"/api/v10/channels/"+id, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bot "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch channel: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}
