package discordtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// resumeOn sends op 6 on a fresh connection.
func resumeOn(t *testing.T, s *Server, token, sessionID string, seq int64) *rawGateway {
	t.Helper()
	g := dialGateway(t, s, v10)
	if hello := g.next(5 * time.Second); hello.Op != opHello {
		t.Fatalf("first payload op %d", hello.Op)
	}
	g.send(opResume, map[string]any{"token": token, "session_id": sessionID, "seq": seq})
	return g
}

func TestGatewayResumeReplaysMissedDispatches(t *testing.T) {
	endings := []struct {
		name string
		end  func(g *rawGateway)
	}{
		{"client closes with 4000", func(g *rawGateway) { g.closeWith(4000) }},
		{"client closes with 4200 like discord.js", func(g *rawGateway) { g.closeWith(4200) }},
		{"client closes with 1012 like discordgo after op 7", func(g *rawGateway) { g.closeWith(1012) }},
		{"client's TCP connection drops", func(g *rawGateway) { g.drop() }},
	}
	for _, e := range endings {
		t.Run(e.name, func(t *testing.T) {
			s := startEmulator(t, nil)
			guild := firstGuild(t, s)
			g := dialGateway(t, s, v10)
			ready := g.identify(IntentGuilds | IntentGuildVoiceStates)
			g.expectDispatch("GUILD_CREATE")
			sessionID := ready["session_id"].(string)
			e.end(g)
			waitFor(t, "the session to be detached", 5*time.Second, func() bool {
				info, err := s.Session(sessionID)
				return err == nil && !info.Connected
			})

			// Events while disconnected are kept for the session.
			var created []string
			for _, name := range []string{"A", "B", "C"} {
				ch, err := s.CreateChannel(guild.ID, Channel{Type: ChannelTypeGuildVoice, Name: name})
				if err != nil {
					t.Fatal(err)
				}
				created = append(created, ch.ID)
			}

			r := resumeOn(t, s, testToken, sessionID, 2)
			for i, id := range created {
				m := r.expectDispatch("CHANNEL_CREATE")
				if *m.S != int64(3+i) || decodeJSON[map[string]any](t, m.D)["id"] != id {
					t.Fatalf("replayed #%d: s=%d %s", i, *m.S, m.D)
				}
			}
			if m := r.expectDispatch("RESUMED"); *m.S != 6 {
				t.Fatalf("RESUMED s=%d, want 6", *m.S)
			}
			// Live events continue the sequence.
			if _, err := s.CreateChannel(guild.ID, Channel{Name: "live"}); err != nil {
				t.Fatal(err)
			}
			if m := r.expectDispatch("CHANNEL_CREATE"); *m.S != 7 {
				t.Fatalf("live dispatch s=%d, want 7", *m.S)
			}
			info, _ := s.Session(sessionID)
			if info.Resumes != 1 || !info.Connected || info.Seq != 7 {
				t.Fatalf("session after resume %+v", info)
			}
			last := info.Ops[len(info.Ops)-1]
			if last.Op != opResume || last.Connection != 2 {
				t.Fatalf("last op %+v, want resume on connection 2", last)
			}
		})
	}
}

func TestGatewayResumeFromCurrentSeqReplaysNothing(t *testing.T) {
	s := startEmulator(t, nil)
	g := dialGateway(t, s, v10)
	ready := g.identify(IntentGuilds)
	g.expectDispatch("GUILD_CREATE")
	g.closeWith(4000)
	r := resumeOn(t, s, testToken, ready["session_id"].(string), 2)
	if m := r.expectDispatch("RESUMED"); *m.S != 3 {
		t.Fatalf("RESUMED s=%d", *m.S)
	}
}

func TestGatewayResumeRefused(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Config)
		// prepare ends the first connection and returns the resume's session ID and seq.
		prepare func(t *testing.T, s *Server, g *rawGateway, sessionID string) (string, int64)
	}{
		{"unknown session", nil, func(_ *testing.T, _ *Server, g *rawGateway, _ string) (string, int64) {
			g.closeWith(4000)
			return "0123456789abcdef0123456789abcdef", 2
		}},
		{"client closed with 1000", nil, func(t *testing.T, s *Server, g *rawGateway, id string) (string, int64) {
			g.closeWith(websocket.StatusNormalClosure)
			waitSessionGone(t, s, id)
			return id, 2
		}},
		{"client closed with 1001", nil, func(t *testing.T, s *Server, g *rawGateway, id string) (string, int64) {
			g.closeWith(websocket.StatusGoingAway)
			waitSessionGone(t, s, id)
			return id, 2
		}},
		{"sequence ahead of the session", nil, func(_ *testing.T, _ *Server, g *rawGateway, id string) (string, int64) {
			g.closeWith(4000)
			return id, 9
		}},
		{"negative sequence", nil, func(_ *testing.T, _ *Server, g *rawGateway, id string) (string, int64) {
			g.closeWith(4000)
			return id, -1
		}},
		{"resume window passed", func(c *Config) { c.Gateway.ResumeWindow = 50 * time.Millisecond },
			func(_ *testing.T, _ *Server, g *rawGateway, id string) (string, int64) {
				g.closeWith(4000)
				time.Sleep(100 * time.Millisecond)
				return id, 2
			}},
		{"missed dispatches no longer buffered", func(c *Config) { c.Gateway.ReplayBufferSize = 2 },
			func(t *testing.T, s *Server, g *rawGateway, id string) (string, int64) {
				g.closeWith(4000)
				for _, name := range []string{"a", "b", "c"} {
					if _, err := s.CreateChannel(firstGuild(t, s).ID, Channel{Name: name}); err != nil {
						t.Fatal(err)
					}
				}
				return id, 2
			}},
		{"session invalidated by the server", nil, func(t *testing.T, s *Server, g *rawGateway, id string) (string, int64) {
			if err := s.InvalidateSession(id); err != nil {
				t.Fatal(err)
			}
			g.closeWith(4000)
			return id, 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startEmulator(t, tt.config)
			g := dialGateway(t, s, v10)
			ready := g.identify(IntentGuilds)
			g.expectDispatch("GUILD_CREATE")
			id, seq := tt.prepare(t, s, g, ready["session_id"].(string))
			r := resumeOn(t, s, testToken, id, seq)
			m := r.next(5 * time.Second)
			if m.Op != opInvalidSession || string(m.D) != "false" {
				t.Fatalf("got op %d d=%s, want op 9 false", m.Op, m.D)
			}
			// The connection stays usable: a new identify works on it.
			r.send(opIdentify, identifyPayload(testToken, IntentGuilds))
			r.expectDispatch("READY")
			if st := s.Stats(); st.FailedResumes != 1 || st.Resumes != 0 {
				t.Fatalf("resumes %d, failed %d", st.Resumes, st.FailedResumes)
			}
		})
	}
}

// waitSessionGone waits until the emulator has ended a session.
func waitSessionGone(t *testing.T, s *Server, id string) {
	t.Helper()
	waitFor(t, "the session to end", 5*time.Second, func() bool {
		_, err := s.Session(id)
		return errors.Is(err, ErrUnknownSession)
	})
}

func TestGatewayResumeWithBadTokenCloses4004(t *testing.T) {
	s := startEmulator(t, nil)
	g := dialGateway(t, s, v10)
	ready := g.identify(IntentGuilds)
	g.closeWith(4000)
	r := resumeOn(t, s, "wrong", ready["session_id"].(string), 1)
	r.expectClose(4004)
}

func TestGatewayResumeTakesOverAZombieConnection(t *testing.T) {
	s := startEmulator(t, nil)
	old := dialGateway(t, s, v10)
	ready := old.identify(IntentGuilds)
	old.expectDispatch("GUILD_CREATE")
	// The client gave up on its old connection without the server noticing, and resumes.
	r := resumeOn(t, s, testToken, ready["session_id"].(string), 2)
	r.expectDispatch("RESUMED")
	// The server drops the old connection (no close frame).
	for range old.payloads {
	}
	if websocket.CloseStatus(old.closeErr) != -1 {
		t.Fatalf("old connection ended with %v, want a dropped connection", old.closeErr)
	}
	if info := onlySession(t, s); !info.Connected || info.Resumes != 1 {
		t.Fatalf("session %+v", info)
	}
}

func TestGatewayServerFaults(t *testing.T) {
	setup := func(t *testing.T) (*Server, *rawGateway, string) {
		s := startEmulator(t, nil)
		g := dialGateway(t, s, v10)
		ready := g.identify(IntentGuilds)
		g.expectDispatch("GUILD_CREATE")
		return s, g, ready["session_id"].(string)
	}

	t.Run("op 1 asks for a heartbeat", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.RequestHeartbeat(id); err != nil {
			t.Fatal(err)
		}
		if m := g.nextDispatch(5 * time.Second); m.Op != opHeartbeat || string(m.D) != "null" {
			t.Fatalf("got op %d d=%s", m.Op, m.D)
		}
	})

	t.Run("op 7 asks to reconnect", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.SendReconnect(id); err != nil {
			t.Fatal(err)
		}
		if m := g.nextDispatch(5 * time.Second); m.Op != opReconnect {
			t.Fatalf("got op %d", m.Op)
		}
	})

	t.Run("op 9 resumable keeps the session", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.SendInvalidSession(id, true); err != nil {
			t.Fatal(err)
		}
		if m := g.nextDispatch(5 * time.Second); m.Op != opInvalidSession || string(m.D) != "true" {
			t.Fatalf("got op %d d=%s", m.Op, m.D)
		}
		// discord.js resumes on the same connection.
		g.send(opResume, map[string]any{"token": testToken, "session_id": id, "seq": 2})
		g.expectDispatch("RESUMED")
	})

	t.Run("op 9 not resumable ends the session", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.SendInvalidSession(id, false); err != nil {
			t.Fatal(err)
		}
		if m := g.nextDispatch(5 * time.Second); m.Op != opInvalidSession || string(m.D) != "false" {
			t.Fatalf("got op %d d=%s", m.Op, m.D)
		}
		if _, err := s.Session(id); !errors.Is(err, ErrUnknownSession) {
			t.Fatalf("session after op 9 false: %v", err)
		}
		// discordgo identifies again on the same connection.
		g.send(opIdentify, identifyPayload(testToken, IntentGuilds))
		g.expectDispatch("READY")
	})

	t.Run("heartbeat ACKs stop and resume", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.SetHeartbeatACKs(id, false); err != nil {
			t.Fatal(err)
		}
		g.send(opHeartbeat, 2)
		g.expectSilence(300 * time.Millisecond)
		if err := s.SetHeartbeatACKs(id, true); err != nil {
			t.Fatal(err)
		}
		g.send(opHeartbeat, 2)
		if m := g.next(5 * time.Second); m.Op != opHeartbeatACK {
			t.Fatalf("got op %d, want ACK", m.Op)
		}
		if info, _ := s.Session(id); info.Heartbeats != 2 {
			t.Fatalf("session heartbeats %d", info.Heartbeats)
		}
	})

	t.Run("drop ends TCP without a close frame", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.DropConnection(id); err != nil {
			t.Fatal(err)
		}
		for range g.payloads {
		}
		if code := websocket.CloseStatus(g.closeErr); code != -1 {
			t.Fatalf("close status %d, want none", code)
		}
		waitFor(t, "the session to be detached", 5*time.Second, func() bool {
			info, err := s.Session(id)
			return err == nil && !info.Connected
		})
		if err := s.DropConnection(id); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("second drop: %v, want ErrNotConnected", err)
		}
		if s.Stats().Drops != 1 {
			t.Fatalf("drops %d", s.Stats().Drops)
		}
	})

	t.Run("close with any code", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.CloseSession(id, 4000, "test"); err != nil {
			t.Fatal(err)
		}
		g.expectClose(4000)
		waitFor(t, "the session to be detached", 5*time.Second, func() bool {
			info, err := s.Session(id)
			return err == nil && !info.Connected
		})
	})

	t.Run("close 4009 ends the session", func(t *testing.T) {
		s, g, id := setup(t)
		if err := s.CloseSession(id, 4009, ""); err != nil {
			t.Fatal(err)
		}
		g.expectClose(4009)
		if _, err := s.Session(id); !errors.Is(err, ErrUnknownSession) {
			t.Fatalf("session after 4009: %v", err)
		}
	})

	t.Run("faults on unknown sessions", func(t *testing.T) {
		s, _, _ := setup(t)
		for name, err := range map[string]error{
			"drop":       s.DropConnection("x"),
			"acks":       s.SetHeartbeatACKs("x", false),
			"op 1":       s.RequestHeartbeat("x"),
			"op 7":       s.SendReconnect("x"),
			"op 9":       s.SendInvalidSession("x", true),
			"close":      s.CloseSession("x", 4000, ""),
			"invalidate": s.InvalidateSession("x"),
		} {
			if !errors.Is(err, ErrUnknownSession) {
				t.Errorf("%s: %v, want ErrUnknownSession", name, err)
			}
		}
		if err := s.CloseSession("x", 1005, ""); err == nil || errors.Is(err, ErrUnknownSession) {
			t.Errorf("close 1005: %v, want a bad-code error", err)
		}
	})
}

func TestGatewayBotVoiceJoin(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.Gateway.VoiceEndpoint = "127.0.0.1:4444" })
	guild := firstGuild(t, s)
	lobby := channelNamed(t, s, "Lobby")
	g := dialGateway(t, s, v10)
	ready := g.identify(IntentGuilds | IntentGuildVoiceStates)
	g.expectDispatch("GUILD_CREATE")
	sessionID := ready["session_id"].(string)

	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": lobby.ID, "self_mute": false, "self_deaf": true})
	vsu := decodeJSON[map[string]any](t, g.expectDispatch("VOICE_STATE_UPDATE").D)
	if vsu["user_id"] != s.Bot().ID || vsu["channel_id"] != lobby.ID || vsu["session_id"] != sessionID || vsu["self_deaf"] != true {
		t.Fatalf("VOICE_STATE_UPDATE %v", vsu)
	}
	server := decodeJSON[map[string]any](t, g.expectDispatch("VOICE_SERVER_UPDATE").D)
	if server["endpoint"] != "127.0.0.1:4444" || server["guild_id"] != guild.ID || server["token"] == "" {
		t.Fatalf("VOICE_SERVER_UPDATE %v", server)
	}
	grant, ok := s.VoiceGrant(guild.ID, s.Bot().ID)
	if !ok || grant.Token != server["token"] || grant.SessionID != sessionID || grant.ChannelID != lobby.ID {
		t.Fatalf("grant %+v", grant)
	}

	// Requests for unknown guilds or non-voice channels are ignored.
	g.send(opVoiceStateUpdate, map[string]any{"guild_id": "1", "channel_id": lobby.ID})
	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": guild.RoomsCategoryID})
	g.expectSilence(200 * time.Millisecond)

	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": nil, "self_mute": false, "self_deaf": false})
	left := decodeJSON[map[string]any](t, g.expectDispatch("VOICE_STATE_UPDATE").D)
	if left["channel_id"] != nil {
		t.Fatalf("leave: %v", left)
	}
	if _, ok := s.VoiceGrant(guild.ID, s.Bot().ID); ok {
		t.Fatal("grant kept after leaving")
	}
	g.expectSilence(200 * time.Millisecond)
}

// recordingVoice is a VoiceBackend that records what it was asked.
type recordingVoice struct {
	allocated chan VoiceGrant
	released  chan string
}

func (r recordingVoice) Allocate(g VoiceGrant) (string, string) {
	r.allocated <- g
	return "voice.test:443", "tok-" + g.ChannelID
}

func (r recordingVoice) Release(guildID, userID string) { r.released <- guildID + "/" + userID }

func TestGatewayVoiceBackendSeam(t *testing.T) {
	backend := recordingVoice{allocated: make(chan VoiceGrant, 4), released: make(chan string, 4)}
	s := startEmulator(t, func(c *Config) { c.Voice = backend })
	guild := firstGuild(t, s)
	lobby := channelNamed(t, s, "Lobby")
	g := dialGateway(t, s, v10)
	g.identify(IntentGuilds)
	g.expectDispatch("GUILD_CREATE")

	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": lobby.ID})
	// Without GUILD_VOICE_STATES the session gets no VOICE_STATE_UPDATE, but still its server.
	server := decodeJSON[map[string]any](t, g.expectDispatch("VOICE_SERVER_UPDATE").D)
	if server["endpoint"] != "voice.test:443" || server["token"] != "tok-"+lobby.ID {
		t.Fatalf("VOICE_SERVER_UPDATE %v", server)
	}
	if got := <-backend.allocated; got.GuildID != guild.ID || got.UserID != s.Bot().ID || got.ChannelID != lobby.ID {
		t.Fatalf("allocated %+v", got)
	}
	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": nil})
	select {
	case got := <-backend.released:
		if got != guild.ID+"/"+s.Bot().ID {
			t.Fatalf("released %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("voice server not released")
	}
}

func TestSlowClientIsDroppedAndCanResume(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.Gateway.OutboundQueue = 4
		c.Gateway.ReplayBufferSize = 8
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A client that identifies, then never reads.
	ws, _, err := websocket.Dial(ctx, s.GatewayURL()+"?"+v10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	payload, _ := json.Marshal(map[string]any{"op": opIdentify, "d": identifyPayload(testToken, IntentGuilds)})
	if err := ws.Write(ctx, websocket.MessageText, payload); err != nil {
		t.Fatal(err)
	}
	var id string
	waitFor(t, "the session", 5*time.Second, func() bool {
		sessions := s.Sessions()
		if len(sessions) == 1 {
			id = sessions[0].ID
		}
		return id != ""
	})

	// Large dispatches fill the socket buffers, then the queue; the emulator then drops the
	// connection instead of waiting or growing.
	big := strings.Repeat("x", 256<<10)
	for i := 0; i < 400; i++ {
		info, err := s.Session(id)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Connected {
			break
		}
		s.mu.Lock()
		s.dispatchLocked([]event{{name: "TEST_EVENT", data: map[string]any{"filler": big}}})
		s.mu.Unlock()
	}
	waitFor(t, "the slow connection to be dropped", 10*time.Second, func() bool {
		info, err := s.Session(id)
		return err == nil && !info.Connected
	})
	if s.Stats().Drops != 1 {
		t.Fatalf("drops %d, want 1", s.Stats().Drops)
	}
	info, _ := s.Session(id)
	r := resumeOn(t, s, testToken, id, info.Seq)
	r.expectDispatch("RESUMED")
}
