package stack

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/roomowner"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// botInRoom returns the status of the voice bot in room, from a pooled status's Bots.
func botInRoom(st voicectl.Status, room string) (voicectl.Status, bool) {
	i := slices.IndexFunc(st.Bots, func(b voicectl.Status) bool { return b.RoomID == room })
	if i < 0 {
		return voicectl.Status{}, false
	}
	return st.Bots[i], true
}

// TestTableViewTwoRoomsWithVoiceBots: with one voice bot beside the main bot, viewers of two
// rooms watch at once through the edge, each room relayed by a bot of its own in its Discord
// call; a third room is refused 409 no_free_voice_bot; once a room's last viewer is gone, its
// bot leaves after the idle timeout and the third room gets it.
func TestTableViewTwoRoomsWithVoiceBots(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{workerArgs: tableArgs, edgeSite: tableSite, voiceBots: 1})
	mainBot, voiceBot := s.emu.Bot().ID, s.emu.VoiceBots()[0].ID
	// Table view takes only bots whose gateway session is up; readiness does not wait for the
	// voice bots'.
	s.waitStatus("both bots' gateway sessions up", 20*time.Second, func(st voicectl.Status) bool {
		return len(st.Bots) == 2 && st.Bots[0].BotID == mainBot && st.Bots[1].BotID == voiceBot
	})

	// Three rooms, each with a member streaming a camera and voice and a member who watches.
	type table struct {
		room             discordtest.Channel
		player, watcher  discordtest.User
		endpoint, token  string
		viewer           *relaytest.Viewer
		location, answer string
	}
	people := s.users(6)
	tables := make([]*table, 3)
	for i, name := range []string{"Table one", "Table two", "Table three"} {
		tb := &table{room: s.voiceRoom(name), player: people[2*i], watcher: people[2*i+1]}
		for _, u := range []discordtest.User{tb.player, tb.watcher} {
			s.afterEvent("voice.joined", func() {
				if err := s.emu.JoinVoice(s.guild.ID, tb.room.ID, u.ID); err != nil {
					t.Fatal(err)
				}
			})
		}
		s.streamCamera(t, tb.room.ID, tb.player.ID)
		tb.endpoint = "/api/table/" + tb.room.ID + "/" + tb.player.ID
		tok, err := s.idp.MintFor(tb.watcher.Username, edgetest.Audience, time.Hour, map[string]any{"discord_id": tb.watcher.ID})
		if err != nil {
			t.Fatal(err)
		}
		tb.token = tok
		tables[i] = tb
	}
	a, b, c := tables[0], tables[1], tables[2]

	// Table view on in the three rooms, as the rooms API turns it on with voice bots: the same
	// overwrite for each bot.
	for _, tb := range tables {
		for _, bot := range []string{voiceBot, mainBot} {
			err := s.emu.SetChannelOverwrite(tb.room.ID, discordtest.PermissionOverwrite{
				ID: bot, Type: discordtest.OverwriteTypeMember, Allow: discordtest.Permissions(roomowner.TablePermissions)})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tb := range tables {
		relaytest.WaitFor(t, "the edge to see table view on in "+tb.room.Name, 10*time.Second, func() bool {
			_, body := s.whep("POST", tb.endpoint, tb.token, "application/sdp", "v=0")
			return errorCode(body) != "table_view_off"
		})
	}

	// Rooms one and two are asked for at once; each gets a bot.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	codes := make([]int, 2)
	for i, tb := range []*table{a, b} {
		tb.viewer = relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
		wg.Go(func() {
			resp, answer, err := s.tryWHEP("POST", tb.endpoint, tb.token, "application/sdp", tb.viewer.Offer)
			if err != nil {
				errs[i] = err
				return
			}
			codes[i], tb.answer, tb.location = resp.StatusCode, answer, resp.Header.Get("Location")
		})
	}
	wg.Wait()
	for i, tb := range []*table{a, b} {
		if errs[i] != nil || codes[i] != 201 || !strings.HasPrefix(tb.location, tb.endpoint+"/") {
			t.Fatalf("WHEP POST in %s: %d %v, Location %q: %s", tb.room.Name, codes[i], errs[i], tb.location, tb.answer)
		}
		tb.viewer.Answer(t, tb.answer)
	}
	relaytest.WaitFor(t, "each room's camera and voice at its viewer", 30*time.Second, func() bool {
		return len(a.viewer.Frames()) >= 3 && len(a.viewer.Audio()) >= 3 && len(b.viewer.Frames()) >= 3 && len(b.viewer.Audio()) >= 3
	})
	for _, tb := range []*table{a, b} {
		if tb.viewer.StreamID("video") != tb.player.ID || tb.viewer.StreamID("audio") != tb.player.ID {
			t.Errorf("%s's viewer got tracks labelled %q, %q; want %s", tb.room.Name, tb.viewer.StreamID("video"), tb.viewer.StreamID("audio"), tb.player.ID)
		}
	}
	st := s.waitStatus("each room's bot connected", 20*time.Second, func(st voicectl.Status) bool {
		ba, okA := botInRoom(st, a.room.ID)
		bb, okB := botInRoom(st, b.room.ID)
		return okA && okB && ba.State == voicectl.StateConnected && bb.State == voicectl.StateConnected
	})
	botA, _ := botInRoom(st, a.room.ID)
	botB, _ := botInRoom(st, b.room.ID)
	if botA.BotID == botB.BotID || !slices.Contains([]string{mainBot, voiceBot}, botA.BotID) || !slices.Contains([]string{mainBot, voiceBot}, botB.BotID) {
		t.Fatalf("the rooms' bots %s and %s, want the main bot %s and the voice bot %s: %+v", botA.BotID, botB.BotID, mainBot, voiceBot, st.Bots)
	}
	if botA.Table == nil || botA.Table.Sessions != 1 || botB.Table == nil || botB.Table.Sessions != 1 {
		t.Fatalf("each room is to have one viewing session: %+v", st.Bots)
	}
	// Discord sees each bot in its own room's call.
	voiceStates := func() map[string]string {
		g, err := s.emu.GuildState(s.guild.ID)
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]string{}
		for _, vs := range g.VoiceStates {
			in[vs.UserID] = vs.ChannelID
		}
		return in
	}
	if in := voiceStates(); in[botA.BotID] != a.room.ID || in[botB.BotID] != b.room.ID {
		t.Fatalf("Discord's voice states %v: want %s in %s and %s in %s", in, botA.BotID, a.room.ID, botB.BotID, b.room.ID)
	}

	// Room three: both bots are busy. The refusal leaves no session behind.
	c.viewer = relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	resp, body := s.whep("POST", c.endpoint, c.token, "application/sdp", c.viewer.Offer)
	if resp.StatusCode != 409 || errorCode(body) != "no_free_voice_bot" || !strings.Contains(body, "all 2 voice bots are relaying other rooms") {
		t.Fatalf("a third room: %d %s", resp.StatusCode, body)
	}
	if st, err := s.client.Status(t.Context()); err != nil || st.Table == nil || st.Table.Total != 2 {
		t.Fatalf("after the refusal: %+v, %v", st.Table, err)
	}

	// Room one's viewer goes: its bot leaves after the idle timeout; room two plays on.
	if resp, body := s.whep("DELETE", a.location, a.token, "", ""); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	st = s.waitStatus("room one's bot to leave", 30*time.Second, func(st voicectl.Status) bool {
		_, in := botInRoom(st, a.room.ID)
		return !in
	})
	for _, bot := range st.Bots {
		if bot.BotID == botA.BotID && (bot.State != voicectl.StateIdle || bot.LastEnd == nil || bot.LastEnd.Reason != voicectl.EndIdle) {
			t.Fatalf("the freed bot is to have left for being idle: %+v", bot)
		}
	}
	if bot, in := botInRoom(st, b.room.ID); !in || bot.BotID != botB.BotID || bot.State != voicectl.StateConnected {
		t.Fatalf("room two's bot left too: %+v", st.Bots)
	}
	relaytest.WaitFor(t, "Discord to see room one's bot gone", 10*time.Second, func() bool {
		_, in := voiceStates()[botA.BotID]
		return !in
	})
	frames := len(b.viewer.Frames())
	relaytest.WaitFor(t, "room two's camera to play on", 10*time.Second, func() bool {
		return len(b.viewer.Frames()) >= frames+3
	})

	// The freed bot serves room three.
	c.viewer = relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	resp, answer := s.whep("POST", c.endpoint, c.token, "application/sdp", c.viewer.Offer)
	if resp.StatusCode != 201 {
		t.Fatalf("room three once a bot is free: %d %s", resp.StatusCode, answer)
	}
	c.viewer.Answer(t, answer)
	relaytest.WaitFor(t, "room three's camera and voice at its viewer", 30*time.Second, func() bool {
		return len(c.viewer.Frames()) >= 3 && len(c.viewer.Audio()) >= 3
	})
	if c.viewer.StreamID("video") != c.player.ID {
		t.Errorf("room three's viewer got %q, want %s", c.viewer.StreamID("video"), c.player.ID)
	}
	st = s.waitStatus("room three's bot connected", 20*time.Second, func(st voicectl.Status) bool {
		bot, in := botInRoom(st, c.room.ID)
		return in && bot.State == voicectl.StateConnected
	})
	if bot, _ := botInRoom(st, c.room.ID); bot.BotID != botA.BotID {
		t.Fatalf("room three's bot %s, want the freed %s: %+v", bot.BotID, botA.BotID, st.Bots)
	}
	if in := voiceStates(); in[botA.BotID] != c.room.ID || in[botB.BotID] != b.room.ID {
		t.Fatalf("Discord's voice states %v: want %s in %s and %s in %s", in, botA.BotID, c.room.ID, botB.BotID, b.room.ID)
	}
}
