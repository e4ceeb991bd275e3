package discordtest

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	gorilla "github.com/gorilla/websocket"
)

// rewriteHost sends every request to the emulator, whatever host discordgo's package-level
// endpoints name (https://discord.com/api/v9/...): those variables are process-global, so a test
// that points them at one emulator would break another running in parallel.
type rewriteHost struct {
	target *url.URL
}

func (rt rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme = rt.target.Scheme
	out.URL.Host = rt.target.Host
	out.Host = rt.target.Host
	return http.DefaultTransport.RoundTrip(out)
}

// discordgoClient is a discordgo session against the emulator that records what it receives.
type discordgoClient struct {
	*discordgo.Session
	events  chan *discordgo.Event
	ready   chan *discordgo.Ready
	resumed chan struct{}
	limited chan *discordgo.RateLimit
}

func newDiscordgo(t *testing.T, s *Server, token string) *discordgoClient {
	t.Helper()
	dg, err := discordgo.New("Bot " + token)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(s.URL())
	dg.Client = &http.Client{Transport: rewriteHost{target: target}, Timeout: 10 * time.Second}
	dg.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildVoiceStates
	dg.LogLevel = -1
	if os.Getenv("DISCORDTEST_DEBUG") != "" {
		dg.LogLevel = discordgo.LogInformational
	}
	// Handlers run in discordgo's reading goroutine, in order, instead of one goroutine each.
	dg.SyncEvents = true
	c := &discordgoClient{
		Session: dg,
		events:  make(chan *discordgo.Event, 256),
		ready:   make(chan *discordgo.Ready, 8),
		resumed: make(chan struct{}, 8),
		limited: make(chan *discordgo.RateLimit, 8),
	}
	dg.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) { c.events <- e })
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) { c.ready <- r })
	dg.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) { c.resumed <- struct{}{} })
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.RateLimit) { c.limited <- r })
	return c
}

// open connects and waits for READY, the guild and the first heartbeat; the session is closed
// when the test ends, before the emulator is.
func (c *discordgoClient) open(t *testing.T, s *Server) *discordgo.Ready {
	t.Helper()
	if err := c.Open(); err != nil {
		t.Fatalf("discordgo Open: %v", err)
	}
	t.Cleanup(func() {
		// discordgo's heartbeat goroutine can wake after Close, fail to write on the closed
		// socket and start reconnect(), which retries forever with backoff once the emulator
		// is gone. Turned off first, no goroutine outlives the test; goleak needs no exception.
		c.ShouldReconnectOnError = false
		_ = c.Close()
	})
	ready := receive(t, c.ready, "READY")
	c.expectEvent(t, "GUILD_CREATE", nil)
	// discordgo v0.29.0's heartbeat goroutine writes to the connection it was started for, and
	// on a write error closes whatever connection the session holds by then. If a fault hits
	// before that goroutine's first heartbeat, it wakes after the reconnect and closes the new
	// connection with 1000, ending the session. Faults wait for that first heartbeat.
	waitFor(t, "discordgo's first heartbeat", 10*time.Second, func() bool {
		info, err := s.Session(ready.SessionID)
		return err == nil && info.Heartbeats > 0
	})
	return ready
}

// expectEvent waits for a dispatch of the given type for which match (if any) holds, skipping others.
func (c *discordgoClient) expectEvent(t *testing.T, typ string, match func(*discordgo.Event) bool) *discordgo.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.events:
			if e.Type == typ && (match == nil || match(e)) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within 10s", typ)
			return nil
		}
	}
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		var zero T
		return zero
	}
}

func channelEvent(id string) func(*discordgo.Event) bool {
	return func(e *discordgo.Event) bool {
		switch v := e.Struct.(type) {
		case *discordgo.ChannelCreate:
			return v.ID == id
		case *discordgo.ChannelDelete:
			return v.ID == id
		}
		return false
	}
}

func TestDiscordgoSession(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.Gateway.VoiceEndpoint = "127.0.0.1:5555" })
	guild := firstGuild(t, s)
	alice, _ := s.AddUser(User{Username: "alice", GlobalName: "Alice"})
	dg := newDiscordgo(t, s, testToken)
	ready := dg.open(t, s)
	if ready.User.ID != s.Bot().ID || !ready.User.Bot || len(ready.Guilds) != 1 || ready.SessionID == "" {
		t.Fatalf("READY %+v", ready)
	}
	if ready.Version != 9 {
		t.Fatalf("discordgo speaks v9, READY says %d", ready.Version)
	}
	if st, err := dg.State.Guild(guild.ID); err != nil || len(st.Channels) != 3 {
		t.Fatalf("discordgo state after GUILD_CREATE: %v %v", st, err)
	}

	// REST create, decoded by discordgo, and the CHANNEL_CREATE it fires.
	room, err := dg.GuildChannelCreateComplex(guild.ID, discordgo.GuildChannelCreateData{
		Name: "Table 1", Type: discordgo.ChannelTypeGuildVoice, UserLimit: 4, ParentID: guild.RoomsCategoryID,
		PermissionOverwrites: []*discordgo.PermissionOverwrite{
			{ID: guild.ID, Type: discordgo.PermissionOverwriteTypeRole, Allow: discordgo.PermissionViewChannel},
		},
	}, discordgo.WithAuditLogReason("room for alice"))
	if err != nil {
		t.Fatalf("GuildChannelCreateComplex: %v", err)
	}
	if room.Name != "Table 1" || room.UserLimit != 4 || room.ParentID != guild.RoomsCategoryID || room.Bitrate != 64000 ||
		len(room.PermissionOverwrites) != 1 || room.PermissionOverwrites[0].Allow != discordgo.PermissionViewChannel {
		t.Fatalf("created channel as discordgo decoded it: %+v", room)
	}
	created := dg.expectEvent(t, "CHANNEL_CREATE", channelEvent(room.ID)).Struct.(*discordgo.ChannelCreate)
	if created.GuildID != guild.ID || created.UserLimit != 4 {
		t.Fatalf("CHANNEL_CREATE %+v", created.Channel)
	}
	if log := s.AuditLog(); len(log) != 1 || log[0].Reason != "room for alice" {
		t.Fatalf("audit log %+v", log)
	}
	channels, err := dg.GuildChannels(guild.ID)
	if err != nil || len(channels) != 4 {
		t.Fatalf("GuildChannels: %d channels, %v", len(channels), err)
	}
	me, err := dg.User("@me")
	if err != nil || me.ID != s.Bot().ID {
		t.Fatalf("User(@me): %+v %v", me, err)
	}

	// A person joins voice through the control API.
	if err := s.JoinVoice(guild.ID, room.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	vsu := dg.expectEvent(t, "VOICE_STATE_UPDATE", nil).Struct.(*discordgo.VoiceStateUpdate)
	if vsu.UserID != alice.ID || vsu.ChannelID != room.ID || vsu.Member == nil || vsu.Member.User.GlobalName != "Alice" {
		t.Fatalf("VOICE_STATE_UPDATE %+v", vsu.VoiceState)
	}

	// The bot joins voice with op 4 only, as the worker does.
	if err := dg.ChannelVoiceJoinManual(guild.ID, room.ID, false, true); err != nil {
		t.Fatal(err)
	}
	own := dg.expectEvent(t, "VOICE_STATE_UPDATE", nil).Struct.(*discordgo.VoiceStateUpdate)
	if own.UserID != s.Bot().ID || own.SessionID != ready.SessionID || !own.SelfDeaf {
		t.Fatalf("bot VOICE_STATE_UPDATE %+v", own.VoiceState)
	}
	server := dg.expectEvent(t, "VOICE_SERVER_UPDATE", nil).Struct.(*discordgo.VoiceServerUpdate)
	if server.Endpoint != "127.0.0.1:5555" || server.GuildID != guild.ID || server.Token == "" {
		t.Fatalf("VOICE_SERVER_UPDATE %+v", server)
	}

	// REST delete disconnects the users in the channel, then deletes it.
	if _, err := dg.ChannelDelete(room.ID); err != nil {
		t.Fatal(err)
	}
	dg.expectEvent(t, "CHANNEL_DELETE", channelEvent(room.ID))
	if gs, _ := s.GuildState(guild.ID); len(gs.VoiceStates) != 0 {
		t.Fatalf("voice states after delete: %+v", gs.VoiceStates)
	}
	if info := onlySession(t, s); info.Version != 9 || info.Compression != "zlib" {
		t.Fatalf("discordgo's session %+v: want v9 with identify compression", info)
	}
}

func TestDiscordgoReconnects(t *testing.T) {
	tests := []struct {
		name string
		// fault breaks the session; resumes says whether discordgo must resume (else identify),
		// failedResumes how many resumes the emulator refuses on the way.
		fault         func(s *Server, id string) error
		resumes       bool
		failedResumes int64
	}{
		{"op 7 reconnect", func(s *Server, id string) error { return s.SendReconnect(id) }, true, 0},
		{"dropped TCP connection", func(s *Server, id string) error { return s.DropConnection(id) }, true, 0},
		{"server close 4000", func(s *Server, id string) error { return s.CloseSession(id, 4000, "") }, true, 0},
		// discordgo answers op 9 with identify on the same socket, whatever d says.
		{"op 9 resumable", func(s *Server, id string) error { return s.SendInvalidSession(id, true) }, false, 0},
		{"op 9 not resumable", func(s *Server, id string) error { return s.SendInvalidSession(id, false) }, false, 0},
		// discordgo's zombie detection closes with 1000, which ends the session; its resume gets
		// op 9 and it identifies again.
		{"zombie connection", func(s *Server, id string) error { return s.SetHeartbeatACKs(id, false) }, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startEmulator(t, func(c *Config) {
				// discordgo v0.29.0 has a race of its own: when a heartbeat tick falls just before
				// it closes a connection, its heartbeat goroutine closes the next connection too
				// (with 1000, ending the session) and reconnects a second time. A heartbeat
				// interval longer than the test keeps ticks out of the way; the zombie case needs
				// short ones, and expects a fresh identify anyway.
				if tt.name != "zombie connection" {
					c.Gateway.HeartbeatInterval = 5 * time.Second
				}
			})
			guild := firstGuild(t, s)
			dg := newDiscordgo(t, s, testToken)
			ready := dg.open(t, s)

			if err := tt.fault(s, ready.SessionID); err != nil {
				t.Fatal(err)
			}
			// Dispatches right after the fault reach discordgo on its next connection.
			room, err := s.CreateChannel(guild.ID, Channel{Type: ChannelTypeGuildVoice, Name: "while-away"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.resumes {
				receive(t, dg.resumed, "RESUMED")
				dg.expectEvent(t, "CHANNEL_CREATE", channelEvent(room.ID))
				if st := s.Stats(); st.Identifies != 1 || st.Resumes != 1 {
					t.Fatalf("identifies %d, resumes %d; want 1 and 1", st.Identifies, st.Resumes)
				}
				if info, err := s.Session(ready.SessionID); err != nil || !info.Connected {
					t.Fatalf("session after resume: %+v %v", info, err)
				}
			} else {
				again := receive(t, dg.ready, "a second READY")
				if again.SessionID == ready.SessionID {
					t.Fatal("second READY reuses the session ID")
				}
				if st := s.Stats(); st.Identifies != 2 || st.FailedResumes != tt.failedResumes {
					t.Fatalf("identifies %d, failed resumes %d; want 2 and %d", st.Identifies, st.FailedResumes, tt.failedResumes)
				}
			}
			// The link works after the fault.
			later, err := s.CreateChannel(guild.ID, Channel{Type: ChannelTypeGuildVoice, Name: "after"})
			if err != nil {
				t.Fatal(err)
			}
			dg.expectEvent(t, "CHANNEL_CREATE", channelEvent(later.ID))
		})
	}
}

func TestDiscordgoAuthenticationFailed(t *testing.T) {
	s := startEmulator(t, nil)
	dg := newDiscordgo(t, s, "not-the-token")
	err := dg.Open()
	var closeErr *gorilla.CloseError
	if !errors.As(err, &closeErr) || closeErr.Code != 4004 {
		t.Fatalf("Open with a bad token: %v, want close 4004", err)
	}
	if s.Stats().ServerCloseCodes[4004] != 1 {
		t.Fatalf("close codes %v", s.Stats().ServerCloseCodes)
	}
}

func TestDiscordgoHonoursRateLimits(t *testing.T) {
	t.Run("429 retry_after", func(t *testing.T) {
		s := startEmulator(t, nil)
		guild := firstGuild(t, s)
		dg := newDiscordgo(t, s, testToken)
		if err := s.AddRESTFault(RESTFault{Kind: FaultRateLimit, Route: "POST /guilds/{guild.id}/channels", Count: 1,
			RetryAfter: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if _, err := dg.GuildChannelCreate(guild.ID, "after-storm", discordgo.ChannelTypeGuildVoice); err != nil {
			t.Fatalf("create through a 429: %v", err)
		}
		limited := receive(t, dg.limited, "discordgo's rate-limit event")
		if limited.RetryAfter != 300*time.Millisecond {
			t.Fatalf("discordgo read retry_after %v, want 300ms", limited.RetryAfter)
		}
		if st := s.Stats(); st.RESTStatus[429] != 1 || st.RESTStatus[201] != 1 {
			t.Fatalf("REST answers %v: want one 429 then one 201", st.RESTStatus)
		}
	})

	t.Run("bucket headers prevent 429s", func(t *testing.T) {
		s := startEmulator(t, withRateLimits(2, 300*time.Millisecond))
		guild := firstGuild(t, s)
		dg := newDiscordgo(t, s, testToken)
		for i := range 6 {
			if _, err := dg.GuildChannels(guild.ID); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		if st := s.Stats(); st.RESTStatus[429] != 0 || st.RESTStatus[200] != 6 || s.InvalidRequests() != 0 {
			t.Fatalf("REST answers %v, invalid requests %d: discordgo should wait on the headers", st.RESTStatus, s.InvalidRequests())
		}
	})

	t.Run("502 retried", func(t *testing.T) {
		s := startEmulator(t, nil)
		dg := newDiscordgo(t, s, testToken)
		if err := s.AddRESTFault(RESTFault{Kind: FaultServerError, Count: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := dg.User("@me"); err != nil {
			t.Fatalf("User(@me) through two 502s: %v", err)
		}
		if st := s.Stats(); st.RESTStatus[502] != 2 || st.RESTStatus[200] != 1 {
			t.Fatalf("REST answers %v", st.RESTStatus)
		}
	})
}
