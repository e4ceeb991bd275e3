package voice_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

// Identifiers of the emulated guild, channel and bot in tests that talk to the voice server
// directly (the voice server does not check them against a world: the grant is the truth).
const (
	testGuild   = "100000000000000001"
	testChannel = "100000000000000002"
	testBot     = "100000000000000003"
	testSession = "gateway-session-1"
)

// voiceHarness is a voice server on 127.0.0.1 with a grant for the bot.
type voiceHarness struct {
	t  *testing.T
	vs *voiceserver.Server
}

func newVoiceHarness(t *testing.T, mutate func(*voiceserver.Config)) *voiceHarness {
	t.Helper()
	cfg := voiceserver.Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Minute}
	if mutate != nil {
		mutate(&cfg)
	}
	if os.Getenv("VOICE_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	vs, err := voiceserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vs.Close(); err != nil {
			t.Errorf("voice server Close: %v", err)
		}
	})
	return &voiceHarness{t: t, vs: vs}
}

// grant allocates a voice server for the bot, as the main gateway does on op 4.
func (h *voiceHarness) grant() voice.ServerInfo {
	endpoint, token := h.vs.Allocate(discordtest.VoiceGrant{GuildID: testGuild, ChannelID: testChannel, UserID: testBot, SessionID: testSession})
	return voice.ServerInfo{GuildID: testGuild, ChannelID: testChannel, UserID: testBot, SessionID: testSession, Token: token, Endpoint: endpoint}
}

// testConfig is a client configuration for the emulator: plain ws, quick retries.
func testConfig(cfg voice.Config) voice.Config {
	cfg.Scheme = "ws"
	if cfg.ReconnectBackoff == 0 {
		cfg.ReconnectBackoff = 20 * time.Millisecond
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.IPDiscoveryTimeout == 0 {
		cfg.IPDiscoveryTimeout = 200 * time.Millisecond
	}
	if os.Getenv("VOICE_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// dial connects the bot and closes the connection when the test ends.
func (h *voiceHarness) dial(cfg voice.Config) *voice.Conn {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := voice.Dial(ctx, h.grant(), testConfig(cfg))
	if err != nil {
		h.t.Fatalf("Dial: %v", err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// dialAs connects another bot to the test call, with a grant and a session of its own, and
// closes it when the test ends.
func (h *voiceHarness) dialAs(userID, sessionID string, cfg voice.Config) *voice.Conn {
	h.t.Helper()
	endpoint, token := h.vs.Allocate(discordtest.VoiceGrant{GuildID: testGuild, ChannelID: testChannel, UserID: userID, SessionID: sessionID})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := voice.Dial(ctx, voice.ServerInfo{GuildID: testGuild, ChannelID: testChannel, UserID: userID, SessionID: sessionID, Token: token, Endpoint: endpoint}, testConfig(cfg))
	if err != nil {
		h.t.Fatalf("Dial as %s: %v", userID, err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// newRecorder returns a recorder with the default limits.
func newRecorder(t testing.TB) *voice.Recorder {
	t.Helper()
	rec, err := voice.NewRecorder(voice.RecorderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// eventLog collects a connection's events for assertions.
type eventLog struct {
	mu     sync.Mutex
	events []voice.Event
	notify chan struct{}
}

func newEventLog() *eventLog { return &eventLog{notify: make(chan struct{}, 1)} }

func (l *eventLog) record(e voice.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *eventLog) snapshot() []voice.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]voice.Event(nil), l.events...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// states returns the state events seen.
func (l *eventLog) states() []voice.State {
	var out []voice.State
	for _, e := range l.snapshot() {
		if s, ok := e.(*voice.StateEvent); ok {
			out = append(out, s.State)
		}
	}
	return out
}

func (l *eventLog) hasState(st voice.State) bool {
	for _, s := range l.states() {
		if s == st {
			return true
		}
	}
	return false
}

func mediaPath(name string) string { return filepath.Join("testdata", "media", name) }

func readOpusPackets(t testing.TB, name string) [][]byte {
	t.Helper()
	packets, err := voice.ReadOggOpusFile(mediaPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return packets
}

// playFile plays an Ogg Opus file of testdata/media through conn, paced, and returns the stats.
func playFile(t testing.TB, conn *voice.Conn, name string) voice.PlayStats {
	t.Helper()
	f, err := os.Open(mediaPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := voice.NewOggOpusReader(f)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := conn.PlayOpus(context.Background(), src)
	if err != nil {
		t.Fatalf("PlayOpus: %v", err)
	}
	return stats
}

func readIVFFrames(t testing.TB, name string) [][]byte {
	t.Helper()
	_, frames, err := voice.ReadIVFFile(mediaPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// modeCases are the transport modes every media test runs in, with the server's offer and the
// client's configuration for each.
var modeCases = []struct {
	mode   voice.Mode
	server []string
	client voice.Config
}{
	{voice.ModeAES256GCM, nil, voice.Config{}},
	{voice.ModeXChaCha20Poly1305, []string{voiceserver.ModeXChaCha20Poly1305, voiceserver.ModeXSalsa20Poly1305}, voice.Config{}},
	{voice.ModeXSalsa20Poly1305, []string{voiceserver.ModeXSalsa20Poly1305}, voice.Config{AllowLegacyEncryption: true}},
}
