package rooms

import (
	"net/http"
	"testing"

	"github.com/spellcoven/gateway/discordtest"
)

func TestDeleteIsForOwnersAndAdminsWithinTheCategory(t *testing.T) {
	f := newFixture(t, nil, nil)
	bobsRoom, err := f.emu.CreateChannel(guildID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Bob's table",
		ParentID: categoryID, PermissionOverwrites: []discordtest.PermissionOverwrite{
			{ID: bobID, Type: discordtest.OverwriteTypeMember, Allow: discordtest.Permissions(OwnerPermissions)}}})
	if err != nil {
		t.Fatal(err)
	}
	// A channel elsewhere, with bob's owner mark, must stay out of reach all the same.
	outside, err := f.emu.CreateChannel(guildID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Elsewhere",
		ParentID: otherCatID, PermissionOverwrites: []discordtest.PermissionOverwrite{
			{ID: bobID, Type: discordtest.OverwriteTypeMember, Allow: discordtest.Permissions(OwnerPermissions)}}})
	if err != nil {
		t.Fatal(err)
	}
	f.mirror(t)
	cases := []struct {
		name   string
		caller Caller
		id     string
		status int
		code   string
		gone   bool
	}{
		{"not a snowflake", bob, "abc", 404, "room_not_found", false},
		{"no such channel", bob, "1200000000000000999", 404, "room_not_found", false},
		{"a voice channel of another category", admin, otherVoice, 404, "room_not_found", false},
		{"an owned channel of another category", bob, outside.ID, 404, "room_not_found", false},
		{"a text channel in the category", admin, textInRooms, 404, "room_not_found", false},
		{"the category itself", admin, categoryID, 404, "room_not_found", false},
		{"someone else's room", alice, bobsRoom.ID, 403, "not_owner", false},
		{"a caller without a Discord account", noDiscord, bobsRoom.ID, 403, "not_owner", false},
		{"a room without an owner", alice, lobbyID, 403, "not_owner", false},
		{"the owner", bob, bobsRoom.ID, 204, "", true},
		{"an administrator, a room without owner", admin, lobbyID, 204, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + tc.id, caller: tc.caller})
			if r.Status != tc.status || (tc.code != "" && r.Error.Code != tc.code) {
				t.Fatalf("got %d %+v, want %d %s", r.Status, r.Error, tc.status, tc.code)
			}
			if _, exists := f.channels(t)[tc.id]; exists == tc.gone && tc.id != "abc" && tc.id != "1200000000000000999" {
				t.Fatalf("channel exists = %v after the answer", exists)
			}
		})
	}
	if _, exists := f.channels(t)[otherVoice]; !exists {
		t.Fatal("a channel outside the category was deleted")
	}
}

func TestAdminDeletesAnyRoom(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := f.mustCreate(t, alice, "Alice's table")
	f.mirror(t)
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: bob}); r.Status != http.StatusForbidden {
		t.Fatalf("bob: %d", r.Status)
	}
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: admin}); r.Status != http.StatusNoContent {
		t.Fatalf("admin: %d %+v", r.Status, r.Error)
	}
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: admin}); r.Status != http.StatusNotFound {
		t.Fatalf("deleting again: %d", r.Status)
	}
}
