package browser

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/sandbox"

	"github.com/spellcoven/gateway/event"
)

// discordView is what the page should show: the emulated Discord's rooms, drawn as the page draws
// them (web/present.js: the display name, and badges for muted, deafened, camera and streaming).
func discordView() ([]shownRoom, error) {
	rooms, err := stack.DiscordRooms()
	if err != nil {
		return nil, err
	}
	view := make([]shownRoom, 0, len(rooms))
	for _, r := range rooms {
		room := shownRoom{ID: r.ID, Name: r.Name, Members: []shownMember{}}
		for _, m := range r.Members {
			room.Members = append(room.Members, shownMember{ID: m.UserID, Name: displayName(m), Badges: badges(m)})
		}
		view = append(view, room)
	}
	return view, nil
}

func displayName(m event.Member) string {
	if m.GlobalName != "" {
		return m.GlobalName
	}
	if m.Username != "" {
		return m.Username
	}
	return m.UserID
}

func badges(m event.Member) []string {
	out := []string{}
	switch {
	case m.Mute:
		out = append(out, "mute")
	case m.SelfMute:
		out = append(out, "self_mute")
	}
	switch {
	case m.Deaf:
		out = append(out, "deaf")
	case m.SelfDeaf:
		out = append(out, "self_deaf")
	}
	if m.SelfVideo {
		out = append(out, "self_video")
	}
	if m.SelfStream {
		out = append(out, "self_stream")
	}
	return out
}

// normalized orders members by id: Discord keeps no join order to compare with.
func normalized(rooms []shownRoom) []shownRoom {
	out := slices.Clone(rooms)
	for i := range out {
		out[i].Members = slices.Clone(out[i].Members)
		if out[i].Members == nil {
			out[i].Members = []shownMember{}
		}
		for k := range out[i].Members {
			if out[i].Members[k].Badges == nil {
				out[i].Members[k].Badges = []string{}
			}
		}
		slices.SortFunc(out[i].Members, func(a, b shownMember) int {
			return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
		})
	}
	return out
}

// waitShowsDiscord waits until the rooms the page shows, and the client's state behind them, equal
// the emulated Discord's.
func waitShowsDiscord(p *page, what string, d time.Duration) {
	p.t.Helper()
	p.waitUntil(what, d, func() error {
		want, err := discordView()
		if err != nil {
			return err
		}
		want = normalized(want)
		if got := normalized(p.shownRooms()); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("the page shows\n  %+v\nDiscord holds\n  %+v", got, want)
		}
		st := p.covenDebug().State
		if st == nil {
			return fmt.Errorf("the client has no state")
		}
		var state []shownRoom
		for _, r := range st.Rooms {
			room := shownRoom{ID: r.ID, Name: r.Name}
			for _, m := range r.Members {
				room.Members = append(room.Members, shownMember{ID: m.UserID, Name: displayName(m), Badges: badges(m)})
			}
			state = append(state, room)
		}
		if got := normalized(state); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("the client's state holds\n  %+v\nDiscord holds\n  %+v", got, want)
		}
		return nil
	})
}

// resetGuild brings the sandbox's guild back to how it was seeded, as TestDemoPage expects to find
// it: the Lobby alone, nobody in voice. A second run of the test in one process (-count) then
// starts where the first did.
func resetGuild(t *testing.T) {
	t.Helper()
	rooms, err := stack.DiscordRooms()
	if err != nil {
		t.Fatal(err)
	}
	emu := stack.Emulator()
	for _, r := range rooms {
		for _, m := range r.Members {
			must(t, emu.LeaveVoice(sandbox.GuildID, m.UserID))
		}
		if r.Name != "Lobby" {
			if _, err := emu.DeleteChannel(r.ID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// Table view off again (the bots' overwrites gone).
		for _, bot := range []string{sandbox.BotID, sandbox.VoiceBotID} {
			if err := emu.DeleteChannelOverwrite(r.ID, bot); err != nil && !strings.Contains(err.Error(), "Unknown Overwrite") {
				t.Fatal(err)
			}
		}
	}
}

// lobbyID is the id of the guild's seeded room.
func lobbyID(t *testing.T) string {
	t.Helper()
	rooms, err := stack.DiscordRooms()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if r.Name == "Lobby" {
			return r.ID
		}
	}
	t.Fatalf("no Lobby in %+v", rooms)
	return ""
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
