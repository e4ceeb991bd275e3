package translate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/event"
)

const (
	guildID    = "1100000000000000001"
	otherGuild = "1100000000000000002"
	categoryID = "1110000000000000001"
	otherCat   = "1110000000000000002"
	room1      = "1200000000000000001"
	room2      = "1200000000000000002"
	lobby      = "1200000000000000009" // a voice channel outside the category
	alice      = "1300000000000000001"
	bob        = "1300000000000000002"
)

func voiceChannel(id, parent, name string) *discordgo.Channel {
	return &discordgo.Channel{ID: id, GuildID: guildID, Type: discordgo.ChannelTypeGuildVoice, ParentID: parent, Name: name}
}

func voiceState(user, channel string) *discordgo.VoiceState {
	return &discordgo.VoiceState{GuildID: guildID, UserID: user, ChannelID: channel,
		Member: &discordgo.Member{User: &discordgo.User{ID: user, Username: "u" + user[len(user)-1:], GlobalName: "User " + user[len(user)-1:]}}}
}

// seeded is a mirror of a guild with room1 holding alice, room2 empty and bob in the lobby.
func seeded(t *testing.T) *Guild {
	t.Helper()
	g := New(Config{GuildID: guildID, CategoryID: categoryID})
	_, ok := g.Load(&discordgo.Guild{
		ID: guildID,
		Channels: []*discordgo.Channel{
			{ID: categoryID, Type: discordgo.ChannelTypeGuildCategory, Name: "Rooms"},
			voiceChannel(room1, categoryID, "Table 1"),
			voiceChannel(room2, categoryID, "Table 2"),
			voiceChannel(lobby, "", "Lobby"),
		},
		VoiceStates: []*discordgo.VoiceState{
			{UserID: alice, ChannelID: room1, SelfMute: true},
			{UserID: bob, ChannelID: lobby},
		},
		Members: []*discordgo.Member{
			{User: &discordgo.User{ID: alice, Username: "alice", GlobalName: "Alice", Avatar: "a1"}},
			{User: &discordgo.User{ID: bob, Username: "bob"}},
		},
	})
	if !ok {
		t.Fatal("Load refused the configured guild")
	}
	return g
}

// render turns changes into "type payload-json" lines, the form the cases compare against.
func render(t *testing.T, changes []Change) []string {
	t.Helper()
	var out []string
	for _, c := range changes {
		// Every change must make a valid contract event.
		if _, err := event.New(event.Position{Epoch: "e", Seq: 1}, guildID, time.Unix(0, 0), c.Type, c.Payload); err != nil {
			t.Fatalf("change %s is not a valid event: %v", c.Type, err)
		}
		raw, _ := json.Marshal(c.Payload)
		out = append(out, string(c.Type)+" "+string(raw))
	}
	return out
}

func TestLoadBuildsSnapshot(t *testing.T) {
	g := seeded(t)
	snap := g.Snapshot()
	raw, _ := json.Marshal(snap)
	want := `{"rooms":[` +
		`{"id":"1200000000000000001","name":"Table 1","user_limit":0,"position":0,"members":[` +
		`{"user_id":"1300000000000000001","username":"alice","global_name":"Alice","avatar":"a1","self_mute":true,"self_deaf":false,"mute":false,"deaf":false,"self_video":false,"self_stream":false}]},` +
		`{"id":"1200000000000000002","name":"Table 2","user_limit":0,"position":0,"members":[]}]}`
	if string(raw) != want {
		t.Fatalf("snapshot\n got %s\nwant %s", raw, want)
	}
	if _, ok := New(Config{GuildID: guildID, CategoryID: categoryID}).Load(&discordgo.Guild{ID: otherGuild}); ok {
		t.Fatal("Load accepted another guild")
	}
}

func TestChannelDispatches(t *testing.T) {
	member := func(id, name string) string {
		return `{"user_id":"` + id + `","username":"` + name + `","global_name":"","avatar":"","self_mute":false,"self_deaf":false,"mute":false,"deaf":false,"self_video":false,"self_stream":false}`
	}
	cases := []struct {
		name  string
		apply func(g *Guild) []Change
		want  []string
	}{
		{"voice channel created in the category is a room",
			func(g *Guild) []Change {
				c := voiceChannel("1200000000000000003", categoryID, "Table 3")
				c.UserLimit, c.Position = 4, 2
				return g.ChannelCreate(c)
			},
			[]string{`room.created {"room":{"id":"1200000000000000003","name":"Table 3","user_limit":4,"position":2}}`}},
		{"text channel in the category is ignored",
			func(g *Guild) []Change {
				return g.ChannelCreate(&discordgo.Channel{ID: "1200000000000000003", GuildID: guildID, Type: discordgo.ChannelTypeGuildText, ParentID: categoryID, Name: "chat"})
			}, nil},
		{"voice channel elsewhere is ignored",
			func(g *Guild) []Change {
				return g.ChannelCreate(voiceChannel("1200000000000000003", otherCat, "Elsewhere"))
			}, nil},
		{"channel of another guild is ignored",
			func(g *Guild) []Change {
				c := voiceChannel("1200000000000000003", categoryID, "Table 3")
				c.GuildID = otherGuild
				return g.ChannelCreate(c)
			}, nil},
		{"rename is a room.updated",
			func(g *Guild) []Change { return g.ChannelUpdate(voiceChannel(room2, categoryID, "Table Two")) },
			[]string{`room.updated {"room":{"id":"1200000000000000002","name":"Table Two","user_limit":0,"position":0}}`}},
		{"update that changes no room field emits nothing",
			func(g *Guild) []Change {
				c := voiceChannel(room2, categoryID, "Table 2")
				c.Bitrate = 96000
				return g.ChannelUpdate(c)
			}, nil},
		{"room moved out of the category is a room.deleted",
			func(g *Guild) []Change { return g.ChannelUpdate(voiceChannel(room1, otherCat, "Table 1")) },
			[]string{`room.deleted {"room_id":"1200000000000000001"}`}},
		{"room turned into a text channel is a room.deleted",
			func(g *Guild) []Change {
				return g.ChannelUpdate(&discordgo.Channel{ID: room2, GuildID: guildID, Type: discordgo.ChannelTypeGuildText, ParentID: categoryID, Name: "t"})
			},
			[]string{`room.deleted {"room_id":"1200000000000000002"}`}},
		{"channel moved into the category is a room.created with its members",
			func(g *Guild) []Change { return g.ChannelUpdate(voiceChannel(lobby, categoryID, "Lobby")) },
			[]string{
				`room.created {"room":{"id":"1200000000000000009","name":"Lobby","user_limit":0,"position":0}}`,
				`voice.joined {"room_id":"1200000000000000009","member":` + member(bob, "bob") + `}`,
			}},
		{"room deleted",
			func(g *Guild) []Change { return g.ChannelDelete(voiceChannel(room1, categoryID, "Table 1")) },
			[]string{`room.deleted {"room_id":"1200000000000000001"}`}},
		{"deleting a channel that is not a room emits nothing",
			func(g *Guild) []Change { return g.ChannelDelete(voiceChannel(lobby, "", "Lobby")) }, nil},
		{"name is cleaned, limits clamped",
			func(g *Guild) []Change {
				c := voiceChannel("1200000000000000003", categoryID, "  Big\x07 table "+strings.Repeat("x", 120))
				c.UserLimit, c.Position = 150, -3
				return g.ChannelCreate(c)
			},
			[]string{`room.created {"room":{"id":"1200000000000000003","name":"` + ("Big  table " + strings.Repeat("x", 89)) + `","user_limit":99,"position":0}}`}},
		{"empty name falls back to the id",
			func(g *Guild) []Change {
				return g.ChannelCreate(voiceChannel("1200000000000000003", categoryID, " \t "))
			},
			[]string{`room.created {"room":{"id":"1200000000000000003","name":"1200000000000000003","user_limit":0,"position":0}}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c.apply(seeded(t)))
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("changes\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestVoiceStateDispatches(t *testing.T) {
	joined := func(room, user string, flags string) string {
		return `voice.joined {"room_id":"` + room + `","member":{"user_id":"` + user + `","username":"u` + user[len(user)-1:] +
			`","global_name":"User ` + user[len(user)-1:] + `","avatar":"",` + flags + `}}`
	}
	const noFlags = `"self_mute":false,"self_deaf":false,"mute":false,"deaf":false,"self_video":false,"self_stream":false`
	cases := []struct {
		name  string
		apply func(g *Guild) []Change
		want  []string
	}{
		{"join a room",
			func(g *Guild) []Change { return g.VoiceStateUpdate(voiceState(bob, room2)) },
			[]string{joined(room2, bob, noFlags)}},
		{"join a channel that is not a room emits nothing",
			func(g *Guild) []Change {
				return g.VoiceStateUpdate(voiceState("1300000000000000003", lobby))
			}, nil},
		{"leave voice from a room",
			func(g *Guild) []Change { return g.VoiceStateUpdate(voiceState(alice, "")) },
			[]string{`voice.left {"room_id":"1200000000000000001","user_id":"1300000000000000001"}`}},
		{"leave voice from a channel that is not a room emits nothing",
			func(g *Guild) []Change { return g.VoiceStateUpdate(voiceState(bob, "")) }, nil},
		{"move from a room to a channel that is not a room is a voice.left",
			func(g *Guild) []Change { return g.VoiceStateUpdate(voiceState(alice, lobby)) },
			[]string{`voice.left {"room_id":"1200000000000000001","user_id":"1300000000000000001"}`}},
		{"move between rooms is a voice.left then a voice.joined",
			func(g *Guild) []Change { return g.VoiceStateUpdate(voiceState(alice, room2)) },
			[]string{
				`voice.left {"room_id":"1200000000000000001","user_id":"1300000000000000001"}`,
				joined(room2, alice, noFlags),
			}},
		{"flag change within a room is a voice.updated",
			func(g *Guild) []Change {
				vs := voiceState(alice, room1)
				vs.SelfMute, vs.SelfVideo, vs.SelfStream, vs.Deaf = true, true, true, true
				return g.VoiceStateUpdate(vs)
			},
			[]string{`voice.updated {"room_id":"1200000000000000001","member":{"user_id":"1300000000000000001","username":"u1","global_name":"User 1","avatar":"",` +
				`"self_mute":true,"self_deaf":false,"mute":false,"deaf":true,"self_video":true,"self_stream":true}}`}},
		{"update changing nothing contract v1 carries emits nothing",
			func(g *Guild) []Change {
				g.VoiceStateUpdate(voiceState(alice, room1))
				vs := voiceState(alice, room1)
				vs.Suppress, vs.SessionID = true, "other"
				return g.VoiceStateUpdate(vs)
			}, nil},
		{"update without member keeps the known identity",
			func(g *Guild) []Change {
				vs := voiceState(alice, room1)
				vs.Member = nil
				vs.SelfMute = false
				return g.VoiceStateUpdate(vs)
			},
			[]string{`voice.updated {"room_id":"1200000000000000001","member":{"user_id":"1300000000000000001","username":"alice","global_name":"Alice","avatar":"a1",` + noFlags + `}}`}},
		{"voice state of another guild is ignored",
			func(g *Guild) []Change {
				vs := voiceState(bob, room2)
				vs.GuildID = otherGuild
				return g.VoiceStateUpdate(vs)
			}, nil},
		{"members of a deleted room leave without events",
			func(g *Guild) []Change {
				g.ChannelDelete(voiceChannel(room1, categoryID, "Table 1"))
				return g.VoiceStateUpdate(voiceState(alice, ""))
			}, nil},
		{"a bot is marked",
			func(g *Guild) []Change {
				vs := voiceState(bob, room2)
				vs.Member.User.Bot = true
				return g.VoiceStateUpdate(vs)
			},
			[]string{`voice.joined {"room_id":"1200000000000000002","member":{"user_id":"1300000000000000002","username":"u2","global_name":"User 2","avatar":"",` + noFlags + `,"bot":true}}`}},
		{"long names are cut at a character boundary",
			func(g *Guild) []Change {
				vs := voiceState(bob, room2)
				vs.Member.User.Username = strings.Repeat("é", 60)
				vs.Member.User.GlobalName = "ok"
				return g.VoiceStateUpdate(vs)
			},
			[]string{`voice.joined {"room_id":"1200000000000000002","member":{"user_id":"1300000000000000002","username":"` + strings.Repeat("é", 50) + `","global_name":"ok","avatar":"",` + noFlags + `}}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c.apply(seeded(t)))
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("changes\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestSnapshotFollowsChanges checks that the snapshot after a series of dispatches is what the
// emitted changes describe.
func TestSnapshotFollowsChanges(t *testing.T) {
	g := seeded(t)
	g.VoiceStateUpdate(voiceState(alice, room2))
	g.ChannelUpdate(voiceChannel(lobby, categoryID, "Lobby"))
	g.ChannelDelete(voiceChannel(room1, categoryID, "Table 1"))
	snap := g.Snapshot()
	var got []string
	for _, r := range snap.Rooms {
		line := r.ID + ":"
		for _, m := range r.Members {
			line += " " + m.UserID
		}
		got = append(got, line)
	}
	want := []string{room2 + ": " + alice, lobby + ": " + bob}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("snapshot rooms %q, want %q", got, want)
	}
	if _, err := event.New(event.Position{Epoch: "e", Seq: 1}, guildID, time.Now(), event.Snapshot, snap); err != nil {
		t.Fatalf("snapshot is not a valid event: %v", err)
	}
}

func TestOwnerSeam(t *testing.T) {
	cases := []struct {
		name  string
		owner OwnerFunc
		want  string
	}{
		{"no owner function", nil, ""},
		{"owner recorded", func(*discordgo.Channel) string { return alice }, alice},
		{"owner that is not a snowflake is left out", func(*discordgo.Channel) string { return "someone" }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := New(Config{GuildID: guildID, CategoryID: categoryID, Owner: c.owner})
			changes := g.ChannelCreate(voiceChannel(room1, categoryID, "Table"))
			if len(changes) != 1 || changes[0].Payload.(event.RoomPayload).Room.OwnerID != c.want {
				t.Fatalf("changes %+v, want owner %q", changes, c.want)
			}
		})
	}
}

func TestTableViewSeam(t *testing.T) {
	on := func(c *discordgo.Channel) bool { return c.Name == "On" }
	g := New(Config{GuildID: guildID, CategoryID: categoryID, TableView: on})
	if ch := g.ChannelCreate(voiceChannel(room1, categoryID, "On")); len(ch) != 1 || !ch[0].Payload.(event.RoomPayload).Room.TableView {
		t.Fatalf("changes %+v, want table view on", ch)
	}
	// Turned off: the room changes.
	if ch := g.ChannelUpdate(voiceChannel(room1, categoryID, "Off")); len(ch) != 1 || ch[0].Payload.(event.RoomPayload).Room.TableView {
		t.Fatalf("changes %+v, want table view off", ch)
	}
	if ch := New(Config{GuildID: guildID, CategoryID: categoryID}).ChannelCreate(voiceChannel(room1, categoryID, "On")); ch[0].Payload.(event.RoomPayload).Room.TableView {
		t.Fatal("without a TableView function, table view is on")
	}
}

func TestStateRoundTrip(t *testing.T) {
	g := New(Config{GuildID: "1", CategoryID: "2"})
	g.Load(&discordgo.Guild{ID: "1",
		Channels:    []*discordgo.Channel{{ID: "10", GuildID: "1", Type: discordgo.ChannelTypeGuildVoice, ParentID: "2", Name: "Table"}, {ID: "11", GuildID: "1", Type: discordgo.ChannelTypeGuildVoice, Name: "Elsewhere"}},
		VoiceStates: []*discordgo.VoiceState{{UserID: "100", ChannelID: "10", SelfVideo: true}, {UserID: "101", ChannelID: "11"}},
	})
	restored := New(Config{GuildID: "1", CategoryID: "2"})
	if err := restored.Restore(g.State()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restored.Snapshot(), g.Snapshot()) || !reflect.DeepEqual(restored.State(), g.State()) {
		t.Fatalf("restored %+v, saved %+v", restored.State(), g.State())
	}
	// The user outside the rooms is kept: moving the channel into the category brings them.
	changes := restored.ChannelUpdate(&discordgo.Channel{ID: "11", GuildID: "1", Type: discordgo.ChannelTypeGuildVoice, ParentID: "2", Name: "Elsewhere"})
	if len(changes) != 2 || changes[1].Type != event.VoiceJoined {
		t.Fatalf("changes %+v", changes)
	}
	bad := g.State()
	bad.Voice[0].ChannelID = "not-a-snowflake"
	if err := restored.Restore(bad); err == nil || len(restored.State().Voice) != 2 {
		t.Fatal("a bad state was restored")
	}
}
