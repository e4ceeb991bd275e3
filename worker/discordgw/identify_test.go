package discordgw

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/worker/metrics"
)

func startEmulatorWith(t *testing.T, gw discordtest.GatewayConfig) *discordtest.Server {
	t.Helper()
	gw.HeartbeatInterval = 100 * time.Millisecond
	gw.HeartbeatTimeout = time.Minute
	emu, err := discordtest.New(discordtest.Config{BotTokens: []string{token}, REST: discordtest.RESTConfig{RateLimitsDisabled: true}, Gateway: gw})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu
}

// runWith runs a session configured as run does, then changed by edit.
func runWith(t *testing.T, emu *discordtest.Server, h Handler, edit func(*Config)) *running {
	t.Helper()
	m := metrics.New()
	cfg := Config{
		Token: token, APIBase: emu.URL(), Metrics: m, OpenTimeout: 5 * time.Second,
		Reconnect: backoff.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}, LibraryLogLevel: -1,
		InvalidSessionWaitMin: 20 * time.Millisecond, InvalidSessionWaitMax: 100 * time.Millisecond, IdentifyInterval: 50 * time.Millisecond,
	}
	edit(&cfg)
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, m: m, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
	return r
}

// TestResumeAcrossSessions stops a session (as a worker's graceful stop does) and starts another
// with its position, as a restarted worker does: the second resumes, receives what happened in
// between, and identifies nothing.
func TestResumeAcrossSessions(t *testing.T) {
	emu := startEmulator(t)
	g := emu.Guilds()[0]
	bob, _ := emu.AddUser(discordtest.User{Username: "bob"})
	first := newRecorder()
	a := run(t, emu, token, first)
	first.expect(t, "READY", "GUILD_CREATE")
	a.stop()
	if err := a.wait(t); err != nil {
		t.Fatal(err)
	}
	pos := a.s.Position()
	if !pos.Resumable() || pos.ResumeURL == "" {
		t.Fatalf("position after READY: %+v", pos)
	}
	lobby := voiceChannel(t, emu, g.ID)
	if err := emu.JoinVoice(g.ID, lobby, bob.ID); err != nil {
		t.Fatal(err)
	}

	second := newRecorder()
	b := runWith(t, emu, second, func(c *Config) { c.Resume = pos })
	second.expect(t, "VOICE_STATE_UPDATE", "RESUMED")
	if st := emu.Stats(); st.Identifies != 1 || st.Resumes != 1 {
		t.Fatalf("%d identifies, %d resumes; want 1 and 1", st.Identifies, st.Resumes)
	}
	if got := b.s.Position(); got.SessionID != pos.SessionID || got.Seq <= pos.Seq {
		t.Fatalf("position after the resume %+v, before %+v", got, pos)
	}
	if v := metrics.Value(b.m.Resumes); v != 1 {
		t.Fatalf("resumes metric %v", v)
	}
}

// TestResumeRefusedIdentifiesAfterTheWait hands in a session Discord does not know: op 9, then an
// identify only after op 9's wait.
func TestResumeRefusedIdentifiesAfterTheWait(t *testing.T) {
	emu := startEmulator(t)
	rec := newRecorder()
	start := time.Now()
	r := runWith(t, emu, rec, func(c *Config) {
		c.Resume = Position{SessionID: "0123456789abcdef", Seq: 42}
		c.InvalidSessionWaitMin, c.InvalidSessionWaitMax = 300*time.Millisecond, 400*time.Millisecond
	})
	rec.expect(t, "READY", "GUILD_CREATE")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("identified %v after the invalid session, before op 9's wait", d)
	}
	st := emu.Stats()
	if st.FailedResumes != 1 || st.Identifies != 1 || st.Ops[2] != 1 {
		t.Fatalf("%d failed resumes, %d identifies (%d sent)", st.FailedResumes, st.Identifies, st.Ops[2])
	}
	if v := metrics.Value(r.m.InvalidSessions); v != 1 {
		t.Fatalf("invalid sessions metric %v", v)
	}
}

// TestInvalidSessionsDoNotStorm invalidates the session again and again under Discord's identify
// throttle (one identify per window): each op 9 costs one identify, not a burst. (The session
// spaces identifies a little wider than the emulator's window; one identify the emulator still
// throttles, on a loaded machine, is allowed for.)
func TestInvalidSessionsDoNotStorm(t *testing.T) {
	emu := startEmulatorWith(t, discordtest.GatewayConfig{IdentifyMaxConcurrency: 1, IdentifyWindow: 500 * time.Millisecond})
	rec := newRecorder()
	r := runWith(t, emu, rec, func(c *Config) { c.IdentifyInterval = 700 * time.Millisecond })
	rec.expect(t, "READY")
	for range 3 {
		if err := emu.SendInvalidSession(onlySession(t, emu), false); err != nil {
			t.Fatal(err)
		}
		rec.expect(t, "READY")
	}
	st := emu.Stats()
	if st.Ops[2] > 5 || st.InvalidSession > 4 {
		t.Fatalf("%d identifies sent and %d invalid sessions for 3 op 9", st.Ops[2], st.InvalidSession)
	}
	if v := metrics.Value(r.m.Identifies); v != float64(st.Ops[2]) {
		t.Fatalf("identifies metric %v, %d sent", v, st.Ops[2])
	}
}

// TestSessionStartLimitWaits uses up the session start limit: the session waits for its reset
// (GET /gateway/bot's reset_after) instead of identifying, which Discord would punish by resetting
// the token (the emulator closes with 4004).
func TestSessionStartLimitWaits(t *testing.T) {
	emu := startEmulatorWith(t, discordtest.GatewayConfig{IdentifyMaxConcurrency: 100, SessionStartLimit: 1, SessionStartReset: 1500 * time.Millisecond})
	rec := newRecorder()
	r := runWith(t, emu, rec, func(*Config) {})
	rec.expect(t, "READY")
	if err := emu.SendInvalidSession(onlySession(t, emu), false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, why, waiting := r.s.IdentifyWait(); waiting && strings.Contains(why, "session start limit used up (0 of 1 left)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no wait for the session start limit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v := metrics.Value(r.m.SessionStartRemaining); v != 0 {
		t.Fatalf("session start remaining %v while it is used up", v)
	}
	rec.expect(t, "READY")
	if st := emu.Stats(); st.ServerCloseCodes[4004] != 0 || st.Identifies != 2 {
		t.Fatalf("%d identifies, %d closes 4004", st.Identifies, st.ServerCloseCodes[4004])
	}
}

func TestClientFrames(t *testing.T) {
	for _, n := range []int{0, 200, 70000} {
		payload := `{"op":6,"d":{"x":"` + strings.Repeat("a", n) + `"}}`
		if op, ok := clientOp(clientTextFrame([]byte(payload))); !ok || op != 6 {
			t.Fatalf("payload of %d bytes: op %d %v", len(payload), op, ok)
		}
	}
	if _, ok := clientOp([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}); ok {
		t.Fatal("an unmasked frame taken for a client payload")
	}
	if _, ok := clientOp(clientTextFrame([]byte(`{"d":null,"op":2}`))); ok {
		t.Fatal("a payload not starting with op taken for one")
	}
	if !isClientClose(clientCloseFrame(1000), 1000) || isClientClose(clientCloseFrame(1012), 1000) || isClientClose(clientTextFrame([]byte("xx")), 1000) {
		t.Fatal("close frames misread")
	}
}

func voiceChannel(t *testing.T, emu *discordtest.Server, guildID string) string {
	t.Helper()
	gs, err := emu.GuildState(guildID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range gs.Channels {
		if ch.Type == discordtest.ChannelTypeGuildVoice {
			return ch.ID
		}
	}
	t.Fatal("no voice channel")
	return ""
}
