package discordgw

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/worker/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "worker-test-token.secret"

func startEmulator(t *testing.T) *discordtest.Server {
	t.Helper()
	emu, err := discordtest.New(discordtest.Config{
		BotTokens: []string{token},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
		Gateway: discordtest.GatewayConfig{
			HeartbeatInterval: 100 * time.Millisecond,
			// A loaded machine can starve the client for seconds; the tests of a missed heartbeat
			// set their own timeout.
			HeartbeatTimeout:       time.Minute,
			IdentifyMaxConcurrency: 100,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu
}

// recorder is a Handler that keeps what it is told.
type recorder struct {
	dispatches chan string
	linkDowns  atomic.Int32
}

func newRecorder() *recorder { return &recorder{dispatches: make(chan string, 1000)} }

func (r *recorder) HandleDispatch(typ string, _ any) { r.dispatches <- typ }
func (r *recorder) LinkDown()                        { r.linkDowns.Add(1) }

// expect waits for the dispatch types in order, skipping others.
func (r *recorder) expect(t *testing.T, types ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for _, want := range types {
		for got := ""; got != want; {
			select {
			case got = <-r.dispatches:
			case <-deadline:
				t.Fatalf("no %s within 10s", want)
			}
		}
	}
}

// expectOneOf waits for any of the types and returns it.
func (r *recorder) expectOneOf(t *testing.T, types ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.dispatches:
			for _, w := range types {
				if got == w {
					return got
				}
			}
		case <-deadline:
			t.Fatalf("none of %v within 10s", types)
		}
	}
}

type running struct {
	s    *Session
	m    *metrics.Metrics
	done chan error
	stop context.CancelFunc
}

func run(t *testing.T, emu *discordtest.Server, tok string, h Handler) *running {
	t.Helper()
	m := metrics.New()
	s, err := New(Config{
		Token: tok, APIBase: emu.URL(), Metrics: m, OpenTimeout: 5 * time.Second,
		Reconnect: backoff.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}, LibraryLogLevel: -1,
		InvalidSessionWaitMin: 20 * time.Millisecond, InvalidSessionWaitMax: 100 * time.Millisecond, IdentifyInterval: 50 * time.Millisecond,
	}, h)
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

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
		return nil
	}
}

func onlySession(t *testing.T, emu *discordtest.Server) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range emu.Sessions() {
			if s.Connected {
				return s.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no connected session")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDispatchesArriveInOrder(t *testing.T) {
	emu := startEmulator(t)
	g := emu.Guilds()[0]
	alice, _ := emu.AddUser(discordtest.User{Username: "alice"})
	rec := newRecorder()
	r := run(t, emu, token, rec)
	rec.expect(t, "READY", "GUILD_CREATE")
	// Connected once the library's Open returns, which may be just after the dispatches arrive.
	for deadline := time.Now().Add(10 * time.Second); !r.s.Connected(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not connected after READY")
		}
	}
	if info := emu.Sessions()[0]; info.Intents != discordtest.IntentGuilds|discordtest.IntentGuildVoiceStates {
		t.Fatalf("identified with intents %d", info.Intents)
	}
	room, err := emu.CreateChannel(g.ID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Table", ParentID: g.RoomsCategoryID})
	if err != nil {
		t.Fatal(err)
	}
	on := true
	for _, step := range []func() error{
		func() error { return emu.JoinVoice(g.ID, room.ID, alice.ID) },
		func() error { return emu.SetVoiceFlags(g.ID, alice.ID, discordtest.VoiceFlags{SelfVideo: &on}) },
		func() error { return emu.LeaveVoice(g.ID, alice.ID) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := emu.DeleteChannel(room.ID); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 5 {
		select {
		case typ := <-rec.dispatches:
			got = append(got, typ)
		case <-time.After(10 * time.Second):
			t.Fatalf("dispatches so far %v", got)
		}
	}
	if strings.Join(got, " ") != "CHANNEL_CREATE VOICE_STATE_UPDATE VOICE_STATE_UPDATE VOICE_STATE_UPDATE CHANNEL_DELETE" {
		t.Fatalf("dispatches %v", got)
	}
	if v := metrics.Value(r.m.DiscordEvents); v < 7 {
		t.Fatalf("dispatch metric %v", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for metrics.Value(r.m.HeartbeatLatency) <= 0 {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat latency measured")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	if r.s.Connected() {
		t.Fatal("connected after stop")
	}
}

// TestSessionComesBack injects each gateway fault and checks that the session recovers and events
// flow again.
func TestSessionComesBack(t *testing.T) {
	cases := []struct {
		name     string
		fault    func(emu *discordtest.Server, id string) error
		linkDown bool
		want     []string // READY or RESUMED, whichever the fault allows
	}{
		{"op 7 reconnect", func(e *discordtest.Server, id string) error { return e.SendReconnect(id) }, true, []string{"RESUMED"}},
		// The session drops the connection rather than identify on it at once, and identifies after op 9's wait.
		{"op 9 not resumable", func(e *discordtest.Server, id string) error { return e.SendInvalidSession(id, false) }, true, []string{"READY"}},
		{"dropped TCP connection", func(e *discordtest.Server, id string) error { return e.DropConnection(id) }, true, []string{"RESUMED"}},
		// discordgo closes a zombie with 1000, which would end the session; the session sends 1012.
		{"zombie: no heartbeat ACKs", func(e *discordtest.Server, id string) error { return e.SetHeartbeatACKs(id, false) }, true, []string{"RESUMED"}},
		{"close 4000", func(e *discordtest.Server, id string) error { return e.CloseSession(id, 4000, "unknown error") }, true, []string{"RESUMED"}},
		{"close 4009 session timed out", func(e *discordtest.Server, id string) error { return e.CloseSession(id, 4009, "timed out") }, true, []string{"READY"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			emu := startEmulator(t)
			g := emu.Guilds()[0]
			bob, _ := emu.AddUser(discordtest.User{Username: "bob"})
			rec := newRecorder()
			r := run(t, emu, token, rec)
			rec.expect(t, "READY", "GUILD_CREATE")
			if err := c.fault(emu, onlySession(t, emu)); err != nil {
				t.Fatal(err)
			}
			rec.expectOneOf(t, c.want...)
			deadline := time.Now().Add(10 * time.Second)
			for !r.s.Connected() {
				if time.Now().After(deadline) {
					t.Fatal("not connected again")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := rec.linkDowns.Load() > 0; got != c.linkDown {
				t.Fatalf("LinkDown called: %v, want %v", got, c.linkDown)
			}
			var lobby string
			gs, _ := emu.GuildState(g.ID)
			for _, ch := range gs.Channels {
				if ch.Type == discordtest.ChannelTypeGuildVoice {
					lobby = ch.ID
				}
			}
			if err := emu.JoinVoice(g.ID, lobby, bob.ID); err != nil {
				t.Fatal(err)
			}
			rec.expect(t, "VOICE_STATE_UPDATE")
		})
	}
}

func TestFatalCloseCodesStopTheSession(t *testing.T) {
	cases := []struct {
		name  string
		token string
		close int // sent to a connected session; 0 when the token itself fails
		want  int
		msg   string
	}{
		{"invalid token at identify", "not-the-token", 0, 4004, "authentication failed"},
		{"4004 on a running session", token, 4004, 4004, "authentication failed"},
		{"4013 invalid intents", token, 4013, 4013, "invalid intents"},
		{"4014 disallowed intents", token, 4014, 4014, "disallowed intents"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			emu := startEmulator(t)
			rec := newRecorder()
			r := run(t, emu, c.token, rec)
			if c.close != 0 {
				rec.expect(t, "READY")
				if err := emu.CloseSession(onlySession(t, emu), c.close, "closing"); err != nil {
					t.Fatal(err)
				}
			}
			err := r.wait(t)
			var fe *FatalCloseError
			if !errors.As(err, &fe) || fe.Code != c.want || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Run returned %v, want a fatal close %d", err, c.want)
			}
			if strings.Contains(err.Error(), c.token) {
				t.Fatal("the error names the token")
			}
			if n := emu.Stats().GatewayConnections; n != 1 {
				t.Fatalf("%d gateway connections: the session reconnected after a fatal close", n)
			}
			if metrics.Value(r.m.CloseCodes) < 1 {
				t.Fatal("close code not counted")
			}
		})
	}
}

// TestStuckAttemptsAreBounded points the session at a gateway that accepts connections and never
// says hello: each attempt ends at OpenTimeout, and stopping does not wait for one.
func TestStuckAttemptsAreBounded(t *testing.T) {
	var mu sync.Mutex
	var conns []*websocket.Conn
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/gateway") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"url":"ws://` + r.Host + `/silent"}`))
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}))
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.CloseNow()
		}
		mu.Unlock()
		srv.Close()
	}()
	m := metrics.New()
	s, err := New(Config{Token: token, APIBase: srv.URL, Metrics: m, OpenTimeout: 150 * time.Millisecond,
		Reconnect: backoff.Policy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}, LibraryLogLevel: -1}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(conns)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts in 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop within 5s")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no token", Config{Metrics: metrics.New()}},
		{"no metrics", Config{Token: "t"}},
		{"bad API base", Config{Token: "t", Metrics: metrics.New(), APIBase: "discord.com"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.cfg, newRecorder()); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
