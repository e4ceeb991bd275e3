package stack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// TestRoomsAPIChangesReachBrowsers creates and deletes a room through the edge's rooms API and
// checks that browsers see room.created and room.deleted: edge -> Discord (emulator) -> worker ->
// edge -> WebSocket.
func TestRoomsAPIChangesReachBrowsers(t *testing.T) {
	emu, err := discordtest.New(discordtest.Config{
		BotTokens: []string{edgetest.BotToken},
		Guilds:    []discordtest.GuildConfig{{ID: edgetest.GuildID}},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
		Gateway:   discordtest.GatewayConfig{HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: time.Minute, IdentifyMaxConcurrency: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	alice, err := emu.AddUser(discordtest.User{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	srv := authtest.NewTestServer(t)
	s := &stack{t: t, emu: emu, guild: emu.Guilds()[0], idp: srv.Issuer, outbox: t.TempDir(),
		workerListen: fmt.Sprintf("127.0.0.1:%d", edgetest.FreePort(t))}
	s.edge = edgetest.Start(t, edgetest.Config{
		Bin: caddyBin, JWKSURL: srv.JWKSURL(), Issuer: srv.Issuer.URL(), LogLevel: "INFO", NoAccessLog: true,
		Global: fmt.Sprintf("category %s\n\t\tdiscord_api %s/api/v10", s.guild.RoomsCategoryID, emu.URL()),
		Site:   "route /api/rooms* {\n\t\tcoven_jwt\n\t\tcoven_rooms\n\t}",
	})
	t.Cleanup(func() { emu.Close() })
	s.worker = s.startWorker(edgetest.BotToken)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)

	tok, err := s.idp.MintFor("alice", edgetest.Audience, time.Hour, map[string]any{"discord_id": alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, s.edge.URL(path), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := call("POST", "/api/rooms", `{"name":"Table from the API","user_limit":4}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var room struct{ ID string }
	json.Unmarshal(body, &room)

	f := nextOfType(v, event.RoomCreated)
	var created event.RoomPayload
	if err := json.Unmarshal(f.Data, &created); err != nil || created.Room.ID != room.ID || created.Room.Name != "Table from the API" || created.Room.UserLimit != 4 {
		t.Fatalf("room.created %s (%v), want room %s", f.Raw, err, room.ID)
	}
	// The owner recorded in Discord by the rooms API comes back through the worker.
	if created.Room.OwnerID != alice.ID {
		t.Fatalf("room.created owner_id = %q, want the creator %s", created.Room.OwnerID, alice.ID)
	}
	// Once reported, the room is listed.
	if code, body := call("GET", "/api/rooms/"+room.ID, ""); code != http.StatusOK {
		t.Fatalf("get: %d %s", code, body)
	}

	if code, body := call("DELETE", "/api/rooms/"+room.ID, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	f = nextOfType(v, event.RoomDeleted)
	var deleted event.RoomDeletedPayload
	if err := json.Unmarshal(f.Data, &deleted); err != nil || deleted.RoomID != room.ID {
		t.Fatalf("room.deleted %s", f.Raw)
	}
}

// nextOfType reads events until one of type typ arrives.
func nextOfType(v *viewer, typ event.Type) edgetest.Frame {
	v.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if f := v.next(time.Until(deadline)); f.Type == string(typ) {
			return f
		}
	}
	v.t.Fatalf("no %s within 10s", typ)
	return edgetest.Frame{}
}
