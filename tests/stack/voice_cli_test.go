package stack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// TestVoiceCommand drives a running worker with `coven-worker voice`, a separate process that
// signs each request with the secret from its environment, as an operator would.
func TestVoiceCommand(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{})
	room := s.voiceRoom("Table two")
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(edgetest.WebhookSecret+"\n"), 0o600)
	withSecret := []string{"COVEN_WEBHOOK_SECRET=" + edgetest.WebhookSecret}
	withSecretFile := []string{"COVEN_WEBHOOK_SECRET_FILE=" + secretFile}
	wrongSecret := []string{"COVEN_WEBHOOK_SECRET=not-the-secret-of-this-worker-at-all"}

	steps := []struct {
		name string
		env  []string
		args []string
		code int
		out  string // expected in stdout (code 0) or stderr
	}{
		{"status while idle", withSecret, []string{"status"}, 0, "idle: in no room"},
		{"no secret", nil, []string{"status"}, 2, "-webhook-secret ($COVEN_WEBHOOK_SECRET) or -webhook-secret-file"},
		{"wrong secret", wrongSecret, []string{"status"}, 1, "unauthorized"},
		{"unknown command", withSecret, []string{"sing"}, 2, `unknown command "sing"`},
		{"join without a room", withSecret, []string{"join"}, 2, "wrong number of arguments"},
		{"join a channel that is not a room", withSecret, []string{"join", "1200000000000000099"}, 1, "not_a_room"},
		{"join", withSecretFile, []string{"join", room.ID}, 0, "joined room " + room.ID + " (Table two)"},
		{"play a file outside the media directory", withSecret, []string{"play", "../tone-b.opus"}, 1, "bad_path"},
		{"play", withSecret, []string{"play", "tone-b.opus"}, 0, "playing tone-b.opus in room " + room.ID},
		{"stop playing", withSecret, []string{"play", "-stop"}, 0, "tone-b.opus: stopped after"},
		{"record", withSecret, []string{"record", "start", "evening"}, 0, "recording room " + room.ID + " into evening"},
		{"record again", withSecret, []string{"record", "start", "later"}, 1, "already_recording"},
		{"status while recording", withSecret, []string{"status"}, 0, "connected: room " + room.ID},
		{"status shows end-to-end encryption", withSecret, []string{"status"}, 0, "end-to-end encryption: DAVE v1"},
		{"stop recording", withSecret, []string{"record", "stop"}, 0, "recorded evening"},
		{"stop recording again", withSecret, []string{"record", "stop"}, 1, "not_recording"},
		{"leave", withSecret, []string{"leave"}, 0, "left room " + room.ID},
	}
	for _, step := range steps {
		code, out, errOut := s.voiceCommand(step.env, step.args...)
		text := out
		if step.code != 0 {
			text = errOut
		}
		if code != step.code || !strings.Contains(text, step.out) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want %d and %q", step.name, code, out, errOut, step.code, step.out)
		}
		if strings.Contains(out+errOut, edgetest.WebhookSecret) {
			t.Fatalf("%s: the output quotes the secret", step.name)
		}
	}

	code, out, errOut := s.voiceCommand(withSecret, "status", "-json", "-timeout", "5s")
	var st voicectl.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status -json: exit %d, %q %q", code, out, errOut)
	}
	if st.State != voicectl.StateIdle || st.LastEnd == nil || st.LastEnd.RoomID != room.ID || st.LastRecording == nil || st.LastRecording.Dir != "evening" {
		t.Fatalf("status after the session: %+v", st)
	}
	if fi, err := os.Stat(filepath.Join(s.recordings, "evening")); err != nil || !fi.IsDir() {
		t.Fatalf("the recording's directory: %v", err)
	}

	// A worker that is not there: a clear error, at once.
	start := time.Now()
	code, _, errOut = s.voiceCommand(withSecret, "status", "-addr", "127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "cannot reach the worker at 127.0.0.1:1") {
		t.Fatalf("unreachable worker: exit %d, %q", code, errOut)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("an unreachable worker was not reported within the command's timeout")
	}
}
