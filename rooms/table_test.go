package rooms

import (
	"net/http"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// botOverwrite returns the room's overwrite for the bot, as Discord holds it.
func botOverwrite(t *testing.T, f *fixture, roomID string) (discordtest.PermissionOverwrite, bool) {
	t.Helper()
	for _, o := range f.channels(t)[roomID].PermissionOverwrites {
		if o.ID == f.emu.Bot().ID {
			return o, true
		}
	}
	return discordtest.PermissionOverwrite{}, false
}

// TestTableViewSwitch: the room's owner (or an administrator) turns table view on, which lets
// the bot into the room with video in Discord, and off, which removes that; others may not.
func TestTableViewSwitch(t *testing.T) {
	f := newFixture(t, nil, nil)
	resp := f.create(t, alice, `{"name":"Table"}`)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %+v", resp.Status, resp.Error)
	}
	room := resp.Body.(Room)
	f.project(t, event.RoomState{Room: event.Room{ID: room.ID, Name: room.Name, OwnerID: aliceID}})
	path := "/api/rooms/" + room.ID + "/table"

	if r := f.do(t, call{method: "PUT", path: path, caller: bob}); r.Status != http.StatusForbidden || r.Error.Code != "not_owner" {
		t.Fatalf("another member turns it on: %d %+v", r.Status, r.Error)
	}
	if _, ok := botOverwrite(t, f, room.ID); ok {
		t.Fatal("a refused switch changed Discord")
	}
	r := f.do(t, call{method: "PUT", path: path, caller: alice})
	if r.Status != http.StatusOK || !r.Body.(Room).TableView || r.Body.(Room).OwnerID != aliceID {
		t.Fatalf("owner turns it on: %d %+v %+v", r.Status, r.Body, r.Error)
	}
	o, ok := botOverwrite(t, f, room.ID)
	if !ok || o.Type != discordtest.OverwriteTypeMember || discordrest.Permissions(o.Allow) != TablePermissions || o.Deny != 0 {
		t.Fatalf("the bot's overwrite %+v %v", o, ok)
	}
	// Again: nothing more to do.
	if r := f.do(t, call{method: "PUT", path: path, caller: alice}); r.Status != http.StatusOK || !r.Body.(Room).TableView {
		t.Fatalf("on twice: %d %+v", r.Status, r.Error)
	}
	if r := f.do(t, call{method: "DELETE", path: path, caller: admin}); r.Status != http.StatusOK || r.Body.(Room).TableView {
		t.Fatalf("an administrator turns it off: %d %+v %+v", r.Status, r.Body, r.Error)
	}
	if _, ok := botOverwrite(t, f, room.ID); ok {
		t.Fatal("the bot's overwrite survived table view turned off")
	}
	if r := f.do(t, call{method: "DELETE", path: path, caller: alice}); r.Status != http.StatusOK || r.Body.(Room).TableView {
		t.Fatalf("off twice: %d %+v", r.Status, r.Error)
	}
	if r := f.do(t, call{method: "DELETE", path: path, caller: bob}); r.Status != http.StatusForbidden || r.Error.Code != "not_owner" {
		t.Fatalf("another member turns it off: %d %+v", r.Status, r.Error)
	}
	for _, c := range []call{
		{method: "PUT", path: "/api/rooms/1200000000000000999/table", caller: alice},
		{method: "PUT", path: "/api/rooms/" + lobbyID + "/table", caller: admin},
		{method: "DELETE", path: "/api/rooms/" + lobbyID + "/table", caller: admin},
	} {
		if r := f.do(t, c); r.Status != http.StatusNotFound || r.Error.Code != "room_not_found" {
			t.Fatalf("%s: %d %+v", c.path, r.Status, r.Error)
		}
	}
	if r := f.do(t, call{method: "GET", path: path, caller: alice}); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET of the switch: %d", r.Status)
	}
}

// TestTableViewWhenDiscordFails: Discord's refusals and outages get the rooms API's clear answers,
// and change nothing.
func TestTableViewWhenDiscordFails(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := f.mustCreate(t, alice, "table")
	f.mirror(t)
	path := "/api/rooms/" + room.ID + "/table"
	fault(t, f, discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Route: "GET /channels/{channel.id}", RetryAfter: 30 * time.Second})
	for _, method := range []string{"PUT", "DELETE"} {
		if r := f.do(t, call{method: method, path: path, caller: alice}); r.Status != http.StatusServiceUnavailable || r.Error.Code != "discord_rate_limited" {
			t.Fatalf("%s rate limited: %d %+v", method, r.Status, r.Error)
		}
	}
	f.emu.ClearRESTFaults()
	on, off := f.mustCreate(t, alice, "on"), f.mustCreate(t, alice, "off")
	f.mirror(t)
	if r := f.do(t, call{method: "PUT", path: "/api/rooms/" + on.ID + "/table", caller: alice}); r.Status != http.StatusOK {
		t.Fatalf("on: %d %+v", r.Status, r.Error)
	}
	// A bot that may no longer manage permissions cannot change the switch: the edge says so.
	if err := f.emu.SetBotPermissions(guildID, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, room string }{{"PUT", off.ID}, {"DELETE", on.ID}} {
		r := f.do(t, call{method: c.method, path: "/api/rooms/" + c.room + "/table", caller: alice})
		if r.Status != http.StatusBadGateway || r.Error.Code != "discord_forbidden" {
			t.Fatalf("%s without permission: %d %+v", c.method, r.Status, r.Error)
		}
	}
	if _, ok := botOverwrite(t, f, off.ID); ok {
		t.Fatal("a refused switch changed Discord")
	}
	if _, ok := botOverwrite(t, f, on.ID); !ok {
		t.Fatal("a refused switch changed Discord")
	}
}
