package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/ingest/ingesttest"
	"github.com/spellcoven/gateway/internal/syncbuf"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/workertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack is an emulator, a test edge and a worker between them, in this process.
type stack struct {
	emu   *discordtest.Server
	guild discordtest.Guild
	edge  *ingesttest.Edge
	w     *Worker
	logs  *syncbuf.Buffer
	done  chan error
	stop  context.CancelFunc
}

func startStack(t *testing.T, token string, mutate func(*Config)) *stack {
	t.Helper()
	return startStackWith(t, token, nil, mutate)
}

// startStackWith is startStack with the emulator's configuration changed by emuMutate.
func startStackWith(t *testing.T, token string, emuMutate func(*discordtest.Config), mutate func(*Config)) *stack {
	t.Helper()
	ecfg := discordtest.Config{
		BotTokens: []string{testToken},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
		Gateway:   discordtest.GatewayConfig{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Minute, IdentifyMaxConcurrency: 100},
	}
	if emuMutate != nil {
		emuMutate(&ecfg)
	}
	emu, err := discordtest.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	s := &stack{emu: emu, guild: emu.Guilds()[0], edge: ingesttest.Start(t), logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cfg := Defaults()
	cfg.Token, cfg.WebhookSecret = token, ingesttest.Secret
	cfg.GuildID, cfg.CategoryID = s.guild.ID, s.guild.RoomsCategoryID
	cfg.EdgeURL, cfg.DiscordAPI = s.edge.URL(), emu.URL()
	cfg.OutboxDir = t.TempDir()
	cfg.DeadLetterDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.LogLevel = "debug"
	cfg.BackoffInitial, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	cfg.ReconnectInitial, cfg.ReconnectMax = 10*time.Millisecond, 100*time.Millisecond
	cfg.Keepalive = 200 * time.Millisecond
	cfg.ShutdownTimeout = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	s.w, err = New(cfg, slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- s.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Error("worker did not stop within 15s")
		}
	})
	return s
}

// converged waits until the edge's projection equals the emulator's world.
func (s *stack) converged(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		want, err := workertest.Expected(s.emu, s.guild.ID, s.guild.RoomsCategoryID)
		if err != nil {
			t.Fatal(err)
		}
		_, got := s.edge.Snapshot()
		ok, diff := workertest.Equal(*got, want)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not converge on the emulator's state within 10s:\n%s", diff)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *stack) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.w.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWorkerMirrorsDiscordOnTheEdge(t *testing.T) {
	s := startStack(t, testToken, nil)
	g := s.guild
	alice, _ := s.emu.AddUser(discordtest.User{Username: "alice", GlobalName: "Alice", Avatar: "abc"})
	bob, _ := s.emu.AddUser(discordtest.User{Username: "bob"})
	s.converged(t)

	room1, err := s.emu.CreateChannel(g.ID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Table 1", UserLimit: 4, ParentID: g.RoomsCategoryID})
	if err != nil {
		t.Fatal(err)
	}
	room2, _ := s.emu.CreateChannel(g.ID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Table 2", ParentID: g.RoomsCategoryID})
	on := true
	steps := []func() error{
		func() error { return s.emu.JoinVoice(g.ID, room1.ID, alice.ID) },
		func() error { return s.emu.JoinVoice(g.ID, room1.ID, bob.ID) },
		func() error {
			return s.emu.SetVoiceFlags(g.ID, alice.ID, discordtest.VoiceFlags{SelfVideo: &on, SelfMute: &on})
		},
		func() error { return s.emu.JoinVoice(g.ID, room2.ID, bob.ID) },
		func() error { return s.emu.LeaveVoice(g.ID, alice.ID) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	s.converged(t)
	if _, err := s.emu.DeleteChannel(room2.ID); err != nil {
		t.Fatal(err)
	}
	s.converged(t)

	var types []string
	for _, e := range s.edge.Applied() {
		types = append(types, string(e.Type))
	}
	want := "snapshot system.status room.created room.created voice.joined voice.joined voice.updated voice.left voice.joined voice.left"
	if got := strings.Join(types, " "); !strings.HasPrefix(got, want) || !strings.Contains(got[len(want):], "room.deleted") {
		t.Fatalf("events applied by the edge:\n%s\nwant a prefix of\n%s then room.deleted", got, want)
	}

	if code, body := s.get(t, "/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz %d %s", code, body)
	}
	if code, body := s.get(t, "/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz %d %s", code, body)
	}
	_, metricsBody := s.get(t, "/metrics")
	for _, m := range []string{
		`coven_worker_discord_events_received_total{type="VOICE_STATE_UPDATE"}`,
		`coven_worker_events_produced_total{type="voice.joined"} 3`,
		"coven_worker_events_delivered_total", "coven_worker_outbox_pending_events", "coven_worker_outbox_oldest_pending_age_seconds",
		"coven_worker_gateway_heartbeat_latency_seconds", "coven_worker_gateway_connected 1", "coven_worker_dead_letters 0",
	} {
		if !strings.Contains(metricsBody, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	s.stop()
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("Run after a graceful stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no stop")
	}
	applied := s.edge.Applied()
	last := applied[len(applied)-1]
	if p, _ := last.Payload(); last.Type != event.SystemStatus || p.(*event.SystemStatusPayload).Discord != event.DiscordDown {
		t.Fatalf("last event after stop: %s %s", last.Type, last.Data)
	}
	logs := s.logs.String()
	if strings.Contains(logs, testToken) || strings.Contains(logs, ingesttest.Secret) {
		t.Fatal("a secret appears in the logs")
	}
	if !strings.Contains(logs, "worker starting") || !strings.Contains(logs, `"token":"[redacted]"`) {
		t.Fatalf("start-up log missing or unredacted:\n%s", logs)
	}
}

func TestWorkerStopsOnFatalClose(t *testing.T) {
	s := startStack(t, "wrong-token", nil)
	select {
	case err := <-s.done:
		s.done <- err
		var fe *discordgw.FatalCloseError
		if !errors.As(err, &fe) || fe.Code != 4004 {
			t.Fatalf("Run = %v, want a fatal 4004", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker kept running after 4004")
	}
	if strings.Contains(s.logs.String(), "wrong-token") {
		t.Fatal("the token appears in the logs")
	}
}

func TestWorkerResyncsAnEdgeThatLostItsState(t *testing.T) {
	s := startStack(t, testToken, nil)
	s.converged(t)
	// The edge forgets everything, as one restarted without a shared broker does.
	var mu sync.Mutex
	forgetting := true
	s.edge.SetFault(func(b *event.Batch, n int) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		// Only the join is refused: the worker's own system.status may still be on its way.
		if forgetting && slices.ContainsFunc(b.Events, func(e event.Event) bool { return e.Type == event.VoiceJoined }) {
			forgetting = false
			return http.StatusConflict, `{"error":{"code":"snapshot_required","message":"x"},"expected":{"epoch":"","seq":0}}`
		}
		return 0, ""
	})
	u, _ := s.emu.AddUser(discordtest.User{Username: "carol"})
	gs, _ := s.emu.GuildState(s.guild.ID)
	var lobby string
	for _, c := range gs.Channels {
		if c.Type == discordtest.ChannelTypeGuildVoice {
			lobby = c.ID
		}
	}
	// Lobby is a room of the seeded guild; joining it produces a voice.joined that the edge refuses.
	if err := s.emu.JoinVoice(s.guild.ID, lobby, u.ID); err != nil {
		t.Fatal(err)
	}
	s.converged(t)
	applied := s.edge.Applied()
	if applied[len(applied)-1].Type != event.Snapshot {
		for _, r := range s.edge.Requests() {
			if r.Batch != nil {
				var types []string
				for _, e := range r.Batch.Events {
					types = append(types, fmt.Sprintf("%d:%s", e.Seq, e.Type))
				}
				t.Logf("request %d %v", r.Status, types)
			}
		}
		t.Logf("worker logs:\n%s", s.logs.String())
		t.Fatalf("the edge caught up without a snapshot: %s", applied[len(applied)-1].Type)
	}
}
