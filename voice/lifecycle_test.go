package voice_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/internal/syncbuf"
	"github.com/spellcoven/gateway/voice"
)

// TestCloseCodes closes the voice gateway with each code and checks the documented reaction:
// resume the same session, start a new one, or stop with the code as the error.
func TestCloseCodes(t *testing.T) {
	cases := []struct {
		code int
		want voice.CloseAction
	}{
		{4015, voice.ActionResume},    // voice server crashed
		{1001, voice.ActionResume},    // going away
		{1011, voice.ActionResume},    // internal error, below 4000
		{4006, voice.ActionReconnect}, // session no longer valid
		{4009, voice.ActionReconnect}, // session timeout
		{4001, voice.ActionStop},      // unknown opcode
		{4003, voice.ActionStop},      // not authenticated
		{4004, voice.ActionStop},      // authentication failed
		{4005, voice.ActionStop},      // already authenticated
		{4011, voice.ActionStop},      // server not found
		{4012, voice.ActionStop},      // unknown protocol
		{4014, voice.ActionStop},      // disconnected
		{4016, voice.ActionStop},      // unknown encryption mode
		{4017, voice.ActionStop},      // DAVE required
		{4020, voice.ActionStop},      // bad request
		{4021, voice.ActionStop},      // rate limited
		{4022, voice.ActionStop},      // call terminated
		{4999, voice.ActionStop},      // unknown: never loop on it
		{1000, voice.ActionStop},      // normal closure
	}
	for _, c := range cases {
		t.Run(closeName(c.code), func(t *testing.T) {
			if got := voice.ActionForClose(c.code); got != c.want {
				t.Fatalf("ActionForClose(%d) = %v, want %v", c.code, got, c.want)
			}
			h := newVoiceHarness(t, nil)
			events := newEventLog()
			conn := h.dial(voice.Config{OnEvent: events.record})
			before, _ := h.vs.Session(testGuild, testBot)
			if err := h.vs.CloseSession(testGuild, testBot, c.code, "test"); err != nil {
				t.Fatal(err)
			}
			switch c.want {
			case voice.ActionResume:
				waitFor(t, "resumed", 5*time.Second, func() bool { return events.hasState(voice.StateResumed) })
				after, ok := h.vs.Session(testGuild, testBot)
				if !ok || after.Resumes != 1 || after.Identifies != 1 || after.SSRC != before.SSRC || !after.Connected {
					t.Fatalf("server session after resume: %+v", after)
				}
				if s := conn.Stats(); s.Resumes != 1 || s.Reconnects != 0 {
					t.Fatalf("stats %+v", s)
				}
			case voice.ActionReconnect:
				waitFor(t, "a new session", 5*time.Second, func() bool { return conn.Stats().Reconnects == 1 })
				after, ok := h.vs.Session(testGuild, testBot)
				if !ok || after.Identifies != 1 || after.SSRC == before.SSRC || conn.SSRC() != after.SSRC {
					t.Fatalf("server session after reconnect: %+v (client SSRC %d)", after, conn.SSRC())
				}
				if states := events.states(); states[len(states)-1] != voice.StateReady {
					t.Fatalf("states %v", states)
				}
			case voice.ActionStop:
				select {
				case <-conn.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the connection did not stop")
				}
				var ce *voice.CloseError
				if !errors.As(conn.Err(), &ce) || ce.Code != c.code {
					t.Fatalf("Err = %v, want close code %d", conn.Err(), c.code)
				}
				if conn.Stats().Resumes+conn.Stats().Reconnects != 0 {
					t.Fatalf("tried to come back: %+v", conn.Stats())
				}
				if !events.hasState(voice.StateClosed) {
					t.Fatal("no closed state event")
				}
			}
		})
	}
}

func closeName(code int) string {
	b, _ := json.Marshal(code)
	return string(b)
}

// TestResumeReplaysMissedMessages loses messages in flight (the server keeps numbering them but
// stops writing), drops the connection, and checks that the resume brings each exactly once,
// in order, because the client acknowledged only what it had seen.
func TestResumeReplaysMissedMessages(t *testing.T) {
	h := newVoiceHarness(t, nil)
	events := newEventLog()
	// Transport only: with DAVE the join also brings the group's messages (see
	// TestResumeReplaysDAVEMessages), and this test counts messages exactly.
	conn := h.dial(voice.Config{OnEvent: events.record, TransportOnly: true})
	if err := h.vs.PauseDelivery(testGuild, testBot); err != nil {
		t.Fatal(err)
	}
	u, err := h.vs.JoinUser(testGuild, testChannel, "200000000000000007")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.SetSpeaking(1); err != nil {
		t.Fatal(err)
	}
	if err := u.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := h.vs.DropConnection(testGuild, testBot); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resumed and the missed events", 5*time.Second, func() bool {
		return events.hasState(voice.StateResumed) && len(userEvents(events)) >= 3
	})
	got := userEvents(events)
	want := []string{"connect 200000000000000007", "speaking 200000000000000007", "disconnect 200000000000000007"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
	if _, ok := conn.UserForSSRC(u.SSRC); ok {
		t.Fatal("the departed user's SSRC is still mapped")
	}
	var resume struct {
		SeqAck int64 `json:"seq_ack"`
	}
	for _, op := range h.vs.Ops(testGuild, testBot) {
		if op.Op == 7 {
			_ = json.Unmarshal(op.D, &resume)
		}
	}
	info, _ := h.vs.Session(testGuild, testBot)
	if resume.SeqAck != info.Seq-3 {
		t.Fatalf("resume acknowledged seq %d; the server had sent %d, the last 3 lost", resume.SeqAck, info.Seq)
	}
	// Heartbeats after the resume acknowledge the replayed messages.
	waitFor(t, "a heartbeat acknowledging the replay", 5*time.Second, func() bool {
		s, _ := h.vs.Session(testGuild, testBot)
		return s.LastSeqAck == info.Seq
	})
}

func userEvents(l *eventLog) []string {
	var out []string
	for _, e := range l.snapshot() {
		switch e := e.(type) {
		case *voice.ClientsConnectEvent:
			out = append(out, "connect "+strings.Join(e.UserIDs, " "))
		case *voice.SpeakingEvent:
			out = append(out, "speaking "+e.UserID)
		case *voice.ClientDisconnectEvent:
			out = append(out, "disconnect "+e.UserID)
		}
	}
	return out
}

// TestResumeRefusedStartsNewSession: when the server has forgotten the session, the resume is
// answered with 4006 and the client identifies anew at once.
func TestResumeRefusedStartsNewSession(t *testing.T) {
	h := newVoiceHarness(t, nil)
	events := newEventLog()
	conn := h.dial(voice.Config{OnEvent: events.record})
	first := conn.SSRC()
	if err := h.vs.InvalidateSession(testGuild, testBot); err != nil {
		t.Fatal(err)
	}
	if err := h.vs.DropConnection(testGuild, testBot); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new session", 5*time.Second, func() bool { return conn.Stats().Reconnects == 1 })
	if conn.SSRC() == first || conn.Stats().Resumes != 0 {
		t.Fatalf("SSRC %d (was %d), stats %+v", conn.SSRC(), first, conn.Stats())
	}
}

// TestMissedHeartbeatAcksResume: a connection whose heartbeats go unacknowledged is a zombie;
// the client drops it and resumes on a new one.
func TestMissedHeartbeatAcksResume(t *testing.T) {
	h := newVoiceHarness(t, nil)
	events := newEventLog()
	conn := h.dial(voice.Config{OnEvent: func(e voice.Event) {
		if s, ok := e.(*voice.StateEvent); ok && s.State == voice.StateReconnecting {
			h.vs.SetHeartbeatAcks(true)
		}
		events.record(e)
	}})
	h.vs.SetHeartbeatAcks(false)
	waitFor(t, "resumed", 5*time.Second, func() bool { return events.hasState(voice.StateResumed) })
	if conn.Stats().Resumes != 1 {
		t.Fatalf("stats %+v", conn.Stats())
	}
	for _, e := range events.snapshot() {
		if s, ok := e.(*voice.StateEvent); ok && s.State == voice.StateReconnecting {
			if s.Err == nil || !strings.Contains(s.Err.Error(), "heartbeats not acknowledged") {
				t.Fatalf("reconnecting because %v", s.Err)
			}
		}
	}
}

// TestGivesUpAfterReconnectAttempts: with the voice server gone, the client tries
// ReconnectAttempts times and then stops with an error.
func TestGivesUpAfterReconnectAttempts(t *testing.T) {
	h := newVoiceHarness(t, nil)
	conn := h.dial(voice.Config{ReconnectAttempts: 3})
	if err := h.vs.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not give up")
	}
	if err := conn.Err(); err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Err = %v", err)
	}
}

// TestLeavingEndsSession: Close sends 1000, which ends the session on the server; the voice
// server releasing the bot (it left the channel) closes with 4014, which stops the client.
func TestLeavingEndsSession(t *testing.T) {
	t.Run("client closes", func(t *testing.T) {
		h := newVoiceHarness(t, nil)
		events := newEventLog()
		conn := h.dial(voice.Config{OnEvent: events.record})
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
		<-conn.Done()
		if conn.Err() != nil {
			t.Fatalf("Err after Close = %v", conn.Err())
		}
		waitFor(t, "the session to end on the server", 5*time.Second, func() bool {
			_, ok := h.vs.Session(testGuild, testBot)
			return !ok
		})
		if err := conn.SendOpus(voice.SilenceFrame()); err == nil {
			t.Fatal("SendOpus after Close succeeded")
		}
		if err := conn.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("server releases the bot", func(t *testing.T) {
		h := newVoiceHarness(t, nil)
		conn := h.dial(voice.Config{})
		h.vs.Release(testGuild, testBot)
		select {
		case <-conn.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("not stopped")
		}
		var ce *voice.CloseError
		if !errors.As(conn.Err(), &ce) || ce.Code != voice.CloseDisconnected {
			t.Fatalf("Err = %v", conn.Err())
		}
	})
}

// TestUpdateServerMoves: a new VOICE_SERVER_UPDATE moves the connection to the new server.
func TestUpdateServerMoves(t *testing.T) {
	h1 := newVoiceHarness(t, nil)
	h2 := newVoiceHarness(t, nil)
	conn := h1.dial(voice.Config{})
	if err := conn.UpdateServer(h2.grant()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a session on the new server", 5*time.Second, func() bool {
		s, ok := h2.vs.Session(testGuild, testBot)
		return ok && s.Mode != "" && conn.SSRC() == s.SSRC
	})
	waitFor(t, "the old session to end", 5*time.Second, func() bool {
		s, ok := h1.vs.Session(testGuild, testBot)
		return !ok || !s.Connected
	})
	if err := conn.UpdateServer(voice.ServerInfo{}); err == nil {
		t.Fatal("an empty update was accepted")
	}
}

// TestDialFailures lists handshakes that must fail with a clear error, in bounded time.
func TestDialFailures(t *testing.T) {
	cases := []struct {
		name    string
		server  func(*voiceserver.Config)
		fault   func(*voiceHarness)
		info    func(voice.ServerInfo) voice.ServerInfo
		cfg     voice.Config
		wantErr string
		code    int
		is      error
	}{
		{name: "wrong token", info: func(i voice.ServerInfo) voice.ServerInfo { i.Token = "wrong-token-secret"; return i }, code: 4004},
		{name: "wrong session", info: func(i voice.ServerInfo) voice.ServerInfo { i.SessionID = "other"; return i }, code: 4004},
		{name: "DAVE required, transport only", server: func(c *voiceserver.Config) { c.RequireDAVE = true }, cfg: voice.Config{TransportOnly: true}, code: 4017},
		{name: "channel ID not a snowflake", info: func(i voice.ServerInfo) voice.ServerInfo { i.ChannelID = "lobby"; return i }, wantErr: "ChannelID \"lobby\" is not a Discord ID"},
		{name: "only the legacy mode offered", server: func(c *voiceserver.Config) { c.Modes = []string{voiceserver.ModeXSalsa20Poly1305} }, wantErr: "no common encryption mode", is: voice.ErrNoCommonMode},
		{name: "no IP discovery answer", fault: func(h *voiceHarness) { h.vs.SetUDPDrop(true, true) }, cfg: voice.Config{IPDiscoveryAttempts: 2, IPDiscoveryTimeout: 50 * time.Millisecond}, wantErr: "ip discovery"},
		{name: "nothing listening", info: func(i voice.ServerInfo) voice.ServerInfo { i.Endpoint = "127.0.0.1:1"; return i }, wantErr: "dial voice gateway"},
		{name: "missing token", info: func(i voice.ServerInfo) voice.ServerInfo { i.Token = ""; return i }, wantErr: "lacks [Token]"},
		{name: "null endpoint", info: func(i voice.ServerInfo) voice.ServerInfo { i.Endpoint = ""; return i }, wantErr: "lacks [Endpoint]"},
		{name: "bad config", cfg: voice.Config{Modes: []voice.Mode{"aes"}}, wantErr: "unsupported mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newVoiceHarness(t, c.server)
			if c.fault != nil {
				c.fault(h)
			}
			info := h.grant()
			if c.info != nil {
				info = c.info(info)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := voice.Dial(ctx, info, testConfig(c.cfg))
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded")
			}
			if strings.Contains(err.Error(), "wrong-token-secret") || strings.Contains(err.Error(), info.Token) && info.Token != "" {
				t.Fatalf("the error reveals the token: %v", err)
			}
			if c.code != 0 {
				var ce *voice.CloseError
				if !errors.As(err, &ce) || ce.Code != c.code {
					t.Fatalf("Dial = %v, want close code %d", err, c.code)
				}
			}
			if c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Dial = %v, want it to mention %q", err, c.wantErr)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("Dial = %v, want errors.Is %v", err, c.is)
			}
		})
	}
}

// TestDialHonoursContext: a cancelled context ends the handshake at once.
func TestDialHonoursContext(t *testing.T) {
	h := newVoiceHarness(t, nil)
	h.vs.SetUDPDrop(true, true) // the handshake would hang in IP discovery
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := voice.Dial(ctx, h.grant(), testConfig(voice.Config{IPDiscoveryAttempts: 100, IPDiscoveryTimeout: time.Second}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want the context's deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Dial took %v", time.Since(start))
	}
}

// TestReceiveIgnoresRTCPAndForgeries: RTCP, garbage and packets sealed with another key are
// counted and dropped, and audio still flows.
func TestReceiveIgnoresRTCPAndForgeries(t *testing.T) {
	h := newVoiceHarness(t, nil)
	rec, _ := voice.NewRecorder(voice.RecorderConfig{})
	conn := h.dial(voice.Config{Media: rec})
	other, _ := voice.NewSealer(voice.ModeAES256GCM, make([]byte, voice.KeySize))
	forged, _ := other.Seal(nil, []byte{0x80, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{0xF8, 0xFF, 0xFE})
	rtcp := []byte{0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, d := range [][]byte{rtcp, forged, []byte("garbage that is not rtp")} {
		if err := h.vs.SendRaw(testGuild, testBot, d); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := h.vs.JoinUser(testGuild, testChannel, "200000000000000008")
	if _, err := u.SendOpus(context.Background(), [][]byte{voice.SilenceFrame()}, voiceserver.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user's packet", 5*time.Second, func() bool { return len(rec.Audio(u.ID)) == 1 })
	if s := conn.Stats(); s.RTCP != 1 || s.Undecryptable != 1 || s.PacketsReceived != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestTokenNeverLogged runs a session through a resume, a refused dial and a close with debug
// logs on both sides: the voice token appears in none of them.
func TestTokenNeverLogged(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newVoiceHarness(t, func(c *voiceserver.Config) { c.Logger = logger })
	info := h.grant()
	cfg := testConfig(voice.Config{})
	cfg.Logger = logger
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := newEventLog()
	cfg.OnEvent = events.record
	conn, err := voice.Dial(ctx, info, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = h.vs.DropConnection(testGuild, testBot)
	waitFor(t, "resumed", 5*time.Second, func() bool { return events.hasState(voice.StateResumed) })
	wrong := info
	wrong.Token = "another-secret-token"
	if _, err := voice.Dial(ctx, wrong, cfg); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	conn.Close()
	out := logs.String()
	if len(out) == 0 {
		t.Fatal("nothing was logged")
	}
	for _, secret := range []string{info.Token, wrong.Token} {
		if strings.Contains(out, secret) {
			t.Fatalf("a token was logged:\n%s", out)
		}
	}
}

// TestKeepalivesAreEchoed: the client sends UDP keepalives at its interval and the server
// echoes them (the client ignores the echoes on its receive path).
func TestKeepalivesAreEchoed(t *testing.T) {
	h := newVoiceHarness(t, nil)
	conn := h.dial(voice.Config{KeepaliveInterval: 10 * time.Millisecond})
	waitFor(t, "three keepalives at the server", 5*time.Second, func() bool { return h.vs.Counters().Keepalives >= 3 })
	if s := conn.Stats(); s.KeepalivesSent < 3 || s.Undecryptable != 0 || s.PacketsReceived != 0 {
		t.Fatalf("stats %+v", s)
	}
}
