// Package workertest helps tests of the worker compare what reached the edge with the truth: it
// derives, from the Discord emulator's world, the snapshot the worker should have produced. The
// worker's package tests and the end-to-end tests in tests/stack use it.
package workertest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
)

// Expected returns the snapshot that describes the emulator's guild: its voice channels under the
// category with the users in them, in the worker's order (rooms by position then id, members by id).
func Expected(emu *discordtest.Server, guildID, categoryID string) (event.SnapshotPayload, error) {
	st := emu.State()
	users := make(map[string]discordtest.User, len(st.Users)+1)
	for _, u := range st.Users {
		users[u.ID] = u
	}
	users[st.Bot.ID] = st.Bot
	var gs *discordtest.GuildState
	for i := range st.Guilds {
		if st.Guilds[i].ID == guildID {
			gs = &st.Guilds[i]
		}
	}
	if gs == nil {
		return event.SnapshotPayload{}, fmt.Errorf("workertest: no guild %s in the emulator", guildID)
	}
	out := event.SnapshotPayload{Rooms: []event.RoomState{}}
	index := map[string]int{}
	for _, c := range gs.Channels {
		if c.Type == discordtest.ChannelTypeGuildVoice && c.ParentID == categoryID {
			index[c.ID] = len(out.Rooms)
			out.Rooms = append(out.Rooms, event.RoomState{
				Room:    event.Room{ID: c.ID, Name: c.Name, UserLimit: c.UserLimit, Position: c.Position},
				Members: []event.Member{},
			})
		}
	}
	for _, vs := range gs.VoiceStates {
		i, ok := index[vs.ChannelID]
		if !ok {
			continue
		}
		u := users[vs.UserID]
		out.Rooms[i].Members = append(out.Rooms[i].Members, event.Member{
			UserID: vs.UserID, Username: u.Username, GlobalName: u.GlobalName, Avatar: u.Avatar,
			SelfMute: vs.SelfMute, SelfDeaf: vs.SelfDeaf, Mute: vs.Mute, Deaf: vs.Deaf,
			SelfVideo: vs.SelfVideo, SelfStream: vs.SelfStream,
		})
	}
	Sort(&out)
	return out, nil
}

// Sort puts a snapshot in the worker's order, so that two descriptions of one state compare equal.
func Sort(s *event.SnapshotPayload) {
	byID := func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) }
	slices.SortFunc(s.Rooms, func(a, b event.RoomState) int {
		return cmp.Or(cmp.Compare(a.Position, b.Position), byID(a.ID, b.ID))
	})
	for i := range s.Rooms {
		if s.Rooms[i].Members == nil {
			s.Rooms[i].Members = []event.Member{}
		}
		slices.SortFunc(s.Rooms[i].Members, func(a, b event.Member) int { return byID(a.UserID, b.UserID) })
	}
}

// Equal compares two snapshots after sorting copies of them; when they differ it returns both as
// JSON for the test's message.
func Equal(got, want event.SnapshotPayload) (bool, string) {
	g, w := clone(got), clone(want)
	Sort(&g)
	Sort(&w)
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) == string(wj) {
		return true, ""
	}
	return false, fmt.Sprintf("got  %s\nwant %s", gj, wj)
}

func clone(s event.SnapshotPayload) event.SnapshotPayload {
	raw, _ := json.Marshal(s)
	var out event.SnapshotPayload
	json.Unmarshal(raw, &out)
	if out.Rooms == nil {
		out.Rooms = []event.RoomState{}
	}
	return out
}
