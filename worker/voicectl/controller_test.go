package voicectl

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

// TestJoinAndLeave is the whole round: op 4, Discord's two answers, the voice handshake, then
// op 4 with no channel and the voice connection closed.
func TestJoinAndLeave(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	st := h.join()
	if st.State != StateConnected || st.RoomID != testRoom || st.RoomName != "Table one" ||
		st.Mode != string(voice.ModeAES256GCM) || st.SSRC == 0 || st.Since.IsZero() {
		t.Fatalf("status after the join: %+v", st)
	}
	if info, ok := h.vs.Session(testGuild, testBot); !ok || info.ChannelID != testRoom {
		t.Fatalf("the voice server holds no session for the bot in the room: %+v", info)
	}
	again, err := h.ctl.Join(testRoom)
	if err != nil || again.SSRC != st.SSRC {
		t.Fatalf("joining the same room again: %v, %+v", err, again)
	}
	_, err = h.ctl.Join(testRoom2)
	wantCode(t, err, CodeAlreadyConnected)
	if ops := h.discord.opsSent(); !slices.Equal(ops, []string{testRoom}) {
		t.Fatalf("op 4 sent %q, want once for the room", ops)
	}
	if v := metricValue(t, h.reg, "coven_worker_voice_connected", nil); v != 1 {
		t.Fatalf("connected gauge %v", v)
	}

	st, err = h.ctl.Leave()
	if err != nil || st.State != StateIdle || st.LastEnd == nil || st.LastEnd.Reason != EndLeft || st.LastEnd.RoomID != testRoom {
		t.Fatalf("after Leave: %v, %+v", err, st)
	}
	if ops := h.discord.opsSent(); !slices.Equal(ops, []string{testRoom, ""}) {
		t.Fatalf("op 4 sent %q, want the room then no channel", ops)
	}
	if _, ok := h.vs.Session(testGuild, testBot); ok {
		t.Fatal("the voice server still holds the bot's session")
	}
	if logs := h.logs.String(); !strings.Contains(logs, "voice: joined") || !strings.Contains(logs, "voice: call ended") {
		t.Fatalf("the join and the end are not logged:\n%s", logs)
	}
	for name, want := range map[string]float64{
		"coven_worker_voice_connected":         0,
		"coven_worker_voice_joins_total":       3, // twice the same room, once another
		"coven_worker_voice_calls_ended_total": 1,
	} {
		if v := metricValue(t, h.reg, name, nil); v != want {
			t.Fatalf("%s = %v, want %v", name, v, want)
		}
	}
}

// TestJoinWaitsPastNullEndpoint: a VOICE_SERVER_UPDATE with a null endpoint means Discord is
// still allocating a server; the join waits for the next update.
func TestJoinWaitsPastNullEndpoint(t *testing.T) {
	h := newHarness(t, harnessOptions{answer: answerNullFirst})
	if st := h.join(); st.State != StateConnected {
		t.Fatalf("status %+v", st)
	}
}

// TestJoinRefusals: each failure is a clear error, leaves the controller idle, and sends op 4
// with no channel whenever the bot may have entered the channel.
func TestJoinRefusals(t *testing.T) {
	cases := []struct {
		name    string
		room    string
		opts    harnessOptions
		prepare func(*harness)
		code    string
		message string
		ops     []string
	}{
		{name: "room id not a snowflake", room: "table-one", code: CodeBadRequest, message: "snowflake"},
		{name: "not a room", room: "1200000000000000099", code: CodeNotARoom, message: "not a room"},
		{name: "guild state unknown", room: testRoom, prepare: func(h *harness) { h.discord.synced = false }, code: CodeNotReady},
		{name: "gateway offline", room: testRoom, prepare: func(h *harness) { h.discord.offline = true }, code: CodeNotReady},
		{
			name: "Discord never answers", room: testRoom,
			opts: harnessOptions{answer: answerNever, mutate: func(c *Config) { c.JoinTimeout = 300 * time.Millisecond }},
			code: CodeJoinTimeout, message: "VOICE_STATE_UPDATE", ops: []string{testRoom, ""},
		},
		{
			name: "no common encryption mode", room: testRoom,
			opts: harnessOptions{serverMode: func(c *voiceserver.Config) { c.Modes = []string{voiceserver.ModeXSalsa20Poly1305} }},
			code: CodeEncryptionRefused, message: "encryption mode", ops: []string{testRoom, ""},
		},
		{
			name: "DAVE required", room: testRoom,
			opts: harnessOptions{
				serverMode: func(c *voiceserver.Config) { c.RequireDAVE = true },
				mutate:     func(c *Config) { c.Voice.TransportOnly = true },
			},
			code: CodeDAVERequired, message: "4017", ops: []string{testRoom, ""},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.opts)
			if c.prepare != nil {
				c.prepare(h)
			}
			_, err := h.ctl.Join(c.room)
			e := wantCode(t, err, c.code)
			if !strings.Contains(e.Message, c.message) {
				t.Fatalf("message %q lacks %q", e.Message, c.message)
			}
			if st := h.ctl.Status(); st.State != StateIdle {
				t.Fatalf("status after a refused join: %+v", st)
			}
			if ops := h.discord.opsSent(); !slices.Equal(ops, c.ops) {
				t.Fatalf("op 4 sent %q, want %q", ops, c.ops)
			}
			if v := metricValue(t, h.reg, "coven_worker_voice_joins_total", map[string]string{"result": c.code}); v != 1 {
				t.Fatalf("joins_total{result=%s} = %v", c.code, v)
			}
		})
	}
}

// TestJoinBeforeReady: without READY the bot's own id is unknown, and so its voice state.
func TestJoinBeforeReady(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.ctl.mu.Lock()
	h.ctl.botID = ""
	h.ctl.mu.Unlock()
	_, err := h.ctl.Join(testRoom)
	wantCode(t, err, CodeNotReady)
}

// TestLeaveInterruptsJoin: a join waiting for Discord is one at a time, and Leave ends it.
func TestLeaveInterruptsJoin(t *testing.T) {
	h := newHarness(t, harnessOptions{answer: answerNever, mutate: func(c *Config) { c.JoinTimeout = time.Minute }})
	var wg sync.WaitGroup
	var joinErr error
	wg.Go(func() { _, joinErr = h.ctl.Join(testRoom) })
	h.waitStatus("joining", 5*time.Second, func(st Status) bool { return st.State == StateJoining && st.RoomID == testRoom })
	_, err := h.ctl.Join(testRoom2)
	wantCode(t, err, CodeJoinInProgress)
	st, err := h.ctl.Leave()
	wg.Wait()
	wantCode(t, joinErr, CodeJoinCancelled)
	if err != nil || st.State != StateIdle {
		t.Fatalf("after Leave: %v %+v", err, st)
	}
}

// TestCallEnds: the call ends, and the status says why, whichever side ends it.
func TestCallEnds(t *testing.T) {
	vsNull := &discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: testGuild, UserID: testBot}}
	deleted := &discordgo.ChannelDelete{Channel: &discordgo.Channel{ID: testRoom, GuildID: testGuild, Type: discordgo.ChannelTypeGuildVoice}}
	cases := []struct {
		name      string
		end       func(h *harness)
		reason    string
		closeCode int
		// ops are the op 4 sent: the join, then "" when the bot leaves voice itself.
		ops []string
	}{
		{"kicked", func(h *harness) { h.discord.dispatch(vsNull) }, EndDisconnected, 0, []string{testRoom}},
		{"moved", func(h *harness) {
			h.discord.dispatch(&discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: testGuild, UserID: testBot, ChannelID: testRoom2}})
		}, EndMoved, 0, []string{testRoom, ""}},
		{"room deleted", func(h *harness) { h.discord.dispatch(vsNull); h.discord.dispatch(deleted) }, EndRoomDeleted, 0, []string{testRoom}},
		{"room deleted before the voice state", func(h *harness) { h.discord.dispatch(deleted) }, EndRoomDeleted, 0, []string{testRoom}},
		{"voice server disconnects (4014)", func(h *harness) {
			if err := h.vs.CloseSession(testGuild, testBot, voice.CloseDisconnected, "Disconnected."); err != nil {
				h.t.Fatal(err)
			}
		}, EndDisconnected, voice.CloseDisconnected, []string{testRoom, ""}},
		{"voice server terminates the call (4022)", func(h *harness) {
			if err := h.vs.CloseSession(testGuild, testBot, voice.CloseCallTerminated, "Call terminated."); err != nil {
				h.t.Fatal(err)
			}
		}, EndVoiceClosed, voice.CloseCallTerminated, []string{testRoom, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.join()
			if _, err := h.ctl.StartRecording("call"); err != nil {
				t.Fatal(err)
			}
			c.end(h)
			st := h.waitStatus("the call's end", 10*time.Second, func(st Status) bool {
				return st.State == StateIdle && st.LastEnd != nil && st.LastEnd.Reason == c.reason && st.LastRecording != nil
			})
			if st.LastEnd.RoomID != testRoom || st.LastEnd.CloseCode != c.closeCode || st.LastEnd.Message == "" {
				t.Fatalf("last end %+v", st.LastEnd)
			}
			if st.LastRecording.EndedAt.IsZero() {
				t.Fatal("the recording was not finished with the call")
			}
			h.ctl.Close() // waits for the teardown
			if ops := h.discord.opsSent(); !slices.Equal(ops, c.ops) {
				t.Fatalf("op 4 sent %q, want %q", ops, c.ops)
			}
			if v := metricValue(t, h.reg, "coven_worker_voice_connected", nil); v != 0 {
				t.Fatalf("connected gauge %v after the end", v)
			}
		})
	}
}

// TestCloseEndsTheCall: a stopping worker leaves and finishes its recording.
func TestCloseEndsTheCall(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.join()
	if _, err := h.ctl.StartRecording("last"); err != nil {
		t.Fatal(err)
	}
	h.ctl.Close()
	st := h.ctl.Status()
	if st.State != StateIdle || st.LastEnd == nil || st.LastEnd.Reason != EndShutdown || st.LastRecording == nil || st.LastRecording.EndedAt.IsZero() {
		t.Fatalf("status after Close: %+v", st)
	}
	_, err := h.ctl.Join(testRoom)
	wantCode(t, err, CodeNotReady)
}

// TestCallFollowsVoiceServerUpdate: a new VOICE_SERVER_UPDATE during the call (Discord moved it
// to another voice server) reconnects there; a repeated one changes nothing.
func TestCallFollowsVoiceServerUpdate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	st := h.join()
	h.ctl.mu.Lock()
	info := h.ctl.call.info
	h.ctl.mu.Unlock()
	h.discord.dispatch(&discordgo.VoiceServerUpdate{GuildID: testGuild, Token: info.Token, Endpoint: info.Endpoint})
	time.Sleep(200 * time.Millisecond) // a reconnection would have begun by now
	if same := h.ctl.Status(); same.SSRC != st.SSRC || same.Stats.Reconnects != 0 || same.State != StateConnected {
		t.Fatalf("a repeated VOICE_SERVER_UPDATE changed the call: %+v", same)
	}
	endpoint, token := h.vs.Allocate(discordtest.VoiceGrant{GuildID: testGuild, ChannelID: testRoom, UserID: testBot, SessionID: info.SessionID})
	h.discord.dispatch(&discordgo.VoiceServerUpdate{GuildID: testGuild, Token: token, Endpoint: endpoint})
	after := h.waitStatus("the reconnection", 10*time.Second, func(st Status) bool {
		return st.State == StateConnected && st.Stats.Reconnects == 1
	})
	if after.RoomID != testRoom || after.SSRC == st.SSRC {
		t.Fatalf("after the move: %+v (SSRC before %d)", after, st.SSRC)
	}
	if ses, ok := h.vs.Session(testGuild, testBot); !ok || ses.SSRC != after.SSRC || !ses.Connected {
		t.Fatalf("voice session after the move: %+v", ses)
	}
}

// TestJoinWaitsForALeaveUnderWay: a join that comes while the bot is still on its way out of a
// room (here its op 4 held by a slow gateway) waits for the leave and then joins, rather than
// being refused as if another join were under way.
func TestJoinWaitsForALeaveUnderWay(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.join()
	h.discord.mu.Lock()
	h.discord.leaveHeld, h.discord.leaveSeen = make(chan struct{}), make(chan struct{}, 1)
	held := h.discord.leaveHeld
	h.discord.mu.Unlock()
	var once sync.Once
	release := func() { once.Do(func() { close(held) }) }
	t.Cleanup(release) // a failure below leaves no leave held
	left := make(chan struct{})
	go func() {
		defer close(left)
		h.ctl.Leave()
	}()
	select {
	case <-h.discord.leaveSeen: // the leave is under way, holding the join lock
	case <-time.After(20 * time.Second):
		t.Fatal("the leave sent no op 4")
	}
	h.discord.mu.Lock()
	h.discord.leaveHeld = nil
	h.discord.mu.Unlock()
	waits := make(chan struct{}, 1)
	h.ctl.onJoinWaits = func() { waits <- struct{}{} }
	joined := make(chan error, 1)
	go func() {
		_, err := h.ctl.Join(testRoom2)
		joined <- err
	}()
	// The join is waiting for the leave, not refused.
	select {
	case err := <-joined:
		t.Fatalf("the join returned while the leave was under way: %v", err)
	case <-waits:
	}
	release()
	<-left
	select {
	case err := <-joined:
		if err != nil {
			t.Fatalf("the join after the leave: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the join did not finish after the leave")
	}
	if st := h.ctl.Status(); st.State != StateConnected || st.RoomID != testRoom2 {
		t.Fatalf("after the join: %+v", st)
	}
}
