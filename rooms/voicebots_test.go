package rooms

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

const (
	voiceBot1 = "1300000000000000901"
	voiceBot2 = "1300000000000000902"
)

// overwriteOf returns the room's member overwrite for id, as Discord holds it.
func overwriteOf(t *testing.T, f *fixture, roomID, id string) (discordtest.PermissionOverwrite, bool) {
	t.Helper()
	for _, o := range f.channels(t)[roomID].PermissionOverwrites {
		if o.ID == id {
			return o, true
		}
	}
	return discordtest.PermissionOverwrite{}, false
}

// TestTableViewLetsVoiceBotsIn: with voice bots configured, table view on lets every voice bot
// into the room as it lets the bot in (each a member overwrite of its own, so Discord's per-bot
// permissions let each connect), and off removes them all; a room missing one voice bot's
// overwrite gets it on the next switch.
func TestTableViewLetsVoiceBotsIn(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.VoiceBotIDs = []string{voiceBot1, voiceBot2} }, func(c *discordtest.Config) {
		c.VoiceBots = []discordtest.VoiceBotConfig{{Token: "voice-1", User: discordtest.User{ID: voiceBot1}}, {Token: "voice-2", User: discordtest.User{ID: voiceBot2}}}
	})
	resp := f.create(t, alice, `{"name":"Table"}`)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %+v", resp.Status, resp.Error)
	}
	room := resp.Body.(Room)
	f.project(t, event.RoomState{Room: event.Room{ID: room.ID, Name: room.Name, OwnerID: aliceID}})
	path := "/api/rooms/" + room.ID + "/table"

	if r := f.do(t, call{method: "PUT", path: path, caller: alice}); r.Status != http.StatusOK || !r.Body.(Room).TableView {
		t.Fatalf("on: %d %+v", r.Status, r.Error)
	}
	for _, id := range []string{f.emu.Bot().ID, voiceBot1, voiceBot2} {
		o, ok := overwriteOf(t, f, room.ID, id)
		if !ok || o.Type != discordtest.OverwriteTypeMember || uint64(o.Allow) != uint64(TablePermissions) || o.Deny != 0 {
			t.Fatalf("overwrite of %s: %+v %v", id, o, ok)
		}
	}
	// The owner is still the one owner: the voice bots' overwrites are no owner's mark.
	var ows []discordrest.Overwrite
	for _, o := range f.channels(t)[room.ID].PermissionOverwrites {
		ows = append(ows, discordrest.Overwrite{ID: o.ID, Type: int(o.Type), Allow: discordrest.Permissions(o.Allow), Deny: discordrest.Permissions(o.Deny)})
	}
	if got := OwnerID(ows); got != aliceID {
		t.Fatalf("owner %q", got)
	}
	// A voice bot's overwrite removed by hand comes back with the next switch on.
	if err := f.emu.DeleteChannelOverwrite(room.ID, voiceBot2); err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, call{method: "PUT", path: path, caller: alice}); r.Status != http.StatusOK || !r.Body.(Room).TableView {
		t.Fatalf("on again: %d %+v", r.Status, r.Error)
	}
	if _, ok := overwriteOf(t, f, room.ID, voiceBot2); !ok {
		t.Fatal("the missing voice bot's overwrite was not written again")
	}
	if r := f.do(t, call{method: "DELETE", path: path, caller: alice}); r.Status != http.StatusOK || r.Body.(Room).TableView {
		t.Fatalf("off: %d %+v", r.Status, r.Error)
	}
	for _, id := range []string{f.emu.Bot().ID, voiceBot1, voiceBot2} {
		if _, ok := overwriteOf(t, f, room.ID, id); ok {
			t.Fatalf("the overwrite of %s survived table view turned off", id)
		}
	}
}

// TestVoiceBotIDsRefused: bad voice bot ids are a configuration error.
func TestVoiceBotIDsRefused(t *testing.T) {
	for _, c := range []struct {
		ids []string
		msg string
	}{
		{[]string{"bot"}, `voice bot 1: "bot" is not a Discord user id`},
		{[]string{voiceBot1, voiceBot1}, "listed twice"},
		{make([]string, MaxVoiceBots+1), "over 99"},
	} {
		_, err := NewService(Config{GuildID: guildID, CategoryID: categoryID, VoiceBotIDs: c.ids}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%d ids: error %v, want %q", len(c.ids), err, c.msg)
		}
	}
}
