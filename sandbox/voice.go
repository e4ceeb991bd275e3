package sandbox

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// chime is a one-second 440 Hz tone (Ogg Opus, libopus), the file the sandbox offers the worker
// to play into a room.
//
//go:embed media/chime.opus
var chime []byte

// ChimeFile is the name of the Ogg Opus file in the worker's media directory.
const ChimeFile = "chime.opus"

// prepareVoice lays out what the worker's voice needs in the run's directory: its media directory
// (with the chime), its recordings directory, and for `coven-worker voice` a file with the
// webhook secret (0600, never printed) and an environment file naming it and the worker's address.
func (s *Stack) prepareVoice() error {
	media, recordings := filepath.Join(s.runDir, "media"), filepath.Join(s.cfg.Dir, "recordings")
	for _, dir := range []string{media, recordings} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(media, ChimeFile), chime, 0o600); err != nil {
		return err
	}
	secretFile := filepath.Join(s.runDir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(s.secrets.webhookSecret), 0o600); err != nil {
		return err
	}
	env := fmt.Sprintf("COVEN_WORKER_LISTEN=%s\nCOVEN_WEBHOOK_SECRET_FILE=%s\n", s.workerAddr, shellQuote(secretFile))
	return os.WriteFile(s.VoiceEnvFile(), []byte(env), 0o600)
}

// VoiceEnvFile is the environment file for `coven-worker voice` against this sandbox's worker:
// `set -a; . <file>; set +a`.
func (s *Stack) VoiceEnvFile() string { return filepath.Join(s.runDir, "voice.env") }

// RecordingsDir is where the worker writes recordings; it outlives the run.
func (s *Stack) RecordingsDir() string { return filepath.Join(s.cfg.Dir, "recordings") }

// shellQuote quotes a path for a POSIX shell's `.` of an environment file.
func shellQuote(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, `'\''`...)
			continue
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// VoiceStatus asks the worker for its voice status (the call, table view's sessions), signed
// with the sandbox's webhook secret as `coven-worker voice status` does.
func (s *Stack) VoiceStatus() (voicectl.Status, error) {
	signer, err := webhook.NewSigner(webhook.SchemeCoven, s.secrets.webhookSecret)
	if err != nil {
		return voicectl.Status{}, err
	}
	c, err := voicectl.NewClient(s.workerAddr, signer, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return voicectl.Status{}, err
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Status(ctx)
}
