package stack

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// mediaDir holds the test media of package voice.
const mediaDir = "../../voice/testdata/media"

// voiceStack is a stack whose emulator has a voice server, and whose worker plays files from
// a media directory and records into a recordings directory.
type voiceStack struct {
	*stack
	vs         *voiceserver.Server
	media      string
	recordings string
	client     *voicectl.Client
}

type voiceOptions struct {
	// server adjusts the voice server's configuration.
	server func(*voiceserver.Config)
	// workerArgs are extra flags of the worker.
	workerArgs []string
	// edgeSite holds extra site directives of the edge (see stackOptions).
	edgeSite string
	// voiceBots is how many voice bots the worker has beside the main bot (see stackOptions).
	voiceBots int
}

func newVoiceStack(t *testing.T, o voiceOptions) *voiceStack {
	t.Helper()
	cfg := voiceserver.Config{HeartbeatInterval: 500 * time.Millisecond, HeartbeatTimeout: time.Minute}
	if o.server != nil {
		o.server(&cfg)
	}
	vs, err := voiceserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after the worker and the emulator.
	t.Cleanup(func() { vs.Close() })
	media, recordings := t.TempDir(), t.TempDir()
	copyMedia(t, "tone-b.opus", filepath.Join(media, "tone-b.opus"))
	args := append([]string{
		"-voice-media-dir", media, "-voice-recordings-dir", recordings, "-voice-gateway-scheme", "ws",
		"-voice-join-timeout", "3s", "-voice-handshake-timeout", "5s",
	}, o.workerArgs...)
	s := newStack(t, stackOptions{voice: vs, workerArgs: args, edgeSite: o.edgeSite, voiceBots: o.voiceBots})
	s.worker.waitReady(20 * time.Second)
	signer, err := webhook.NewSigner(webhook.SchemeCoven, edgetest.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := voicectl.NewClient(s.worker.health, signer, &http.Client{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &voiceStack{stack: s, vs: vs, media: media, recordings: recordings, client: client}
}

func copyMedia(t *testing.T, name, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mediaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// voiceRoom creates a room and waits until the worker knows it.
func (s *voiceStack) voiceRoom(name string) discordtest.Channel {
	s.t.Helper()
	var room discordtest.Channel
	s.afterEvent("room.created", func() { room = s.room(name) })
	return room
}

// afterEvent runs change, then waits until the worker has produced an event of type typ.
func (s *voiceStack) afterEvent(typ string, change func()) {
	s.t.Helper()
	metric := `coven_worker_events_produced_total{type="` + typ + `"}`
	before := s.worker.metric(metric)
	change()
	deadline := time.Now().Add(10 * time.Second)
	for s.worker.metric(metric) == before {
		if time.Now().After(deadline) {
			s.t.Fatalf("the worker produced no %s", typ)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// join puts the bot in room through the control endpoint and fails the test on an error.
func (s *voiceStack) join(room string) voicectl.Status {
	s.t.Helper()
	st, err := s.client.Join(context.Background(), room)
	if err != nil {
		s.t.Fatalf("join %s: %v", room, err)
	}
	return st
}

// waitStatus polls the worker's voice status until ok holds, for at most d.
func (s *voiceStack) waitStatus(what string, d time.Duration, ok func(voicectl.Status) bool) voicectl.Status {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := s.client.Status(context.Background())
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not within %v; status %+v, error %v", what, d, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// voiceCommand runs `coven-worker voice args...` against the stack's worker, with the secret in
// the environment as in production, and returns its exit status and output.
func (s *voiceStack) voiceCommand(env []string, args ...string) (int, string, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBin, append([]string{"voice"}, args...)...)
	cmd.Env = append(os.Environ(), "COVEN_WORKER_LISTEN="+s.worker.health)
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		s.t.Fatalf("coven-worker voice %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// readOpusFile returns the packets of an Ogg Opus file.
func readOpusFile(t *testing.T, path string) [][]byte {
	t.Helper()
	packets, err := voice.ReadOggOpusFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return packets
}

// readIVFFile returns the frames of an IVF file.
func readIVFFile(t *testing.T, path string) [][]byte {
	t.Helper()
	_, frames, err := voice.ReadIVFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

func samePackets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
