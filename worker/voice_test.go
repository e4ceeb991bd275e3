package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/worker/voicectl"
)

// TestLoadVoiceSettings: the voice settings have defaults, flags and environment variables.
func TestLoadVoiceSettings(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load(nil, getenv(baseEnv(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VoiceGatewayScheme != "wss" || cfg.VoiceJoinTimeout != voicectl.DefaultJoinTimeout || cfg.VoiceHandshakeTimeout != 10*time.Second ||
		cfg.VoiceMaxRecordingBytes != voicectl.DefaultMaxRecordingBytes || cfg.VoiceMaxRequestBytes != voicectl.DefaultMaxRequestBytes ||
		cfg.VoiceMaxRecentRequests != voicectl.DefaultMaxRecentRequests || cfg.VoiceMediaDir != "" || cfg.VoiceRecordingsDir != "" {
		t.Fatalf("voice defaults %+v", cfg)
	}
	media, recordings := filepath.Join(dir, "media"), filepath.Join(dir, "recordings")
	os.Mkdir(media, 0o755)
	os.Mkdir(recordings, 0o755)
	env := baseEnv(dir)
	env["COVEN_WORKER_VOICE_MEDIA_DIR"] = media
	env["COVEN_WORKER_VOICE_JOIN_TIMEOUT"] = "3s"
	cfg, err = Load([]string{"-voice-recordings-dir", recordings, "-voice-gateway-scheme", "ws", "-voice-max-recording-bytes", "1048576"}, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VoiceMediaDir != media || cfg.VoiceRecordingsDir != recordings || cfg.VoiceGatewayScheme != "ws" ||
		cfg.VoiceJoinTimeout != 3*time.Second || cfg.VoiceMaxRecordingBytes != 1<<20 {
		t.Fatalf("voice settings %+v", cfg)
	}
}

// TestLoadRefusesVoiceSettings: each bad voice setting is named.
func TestLoadRefusesVoiceSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"media directory missing", []string{"-voice-media-dir", filepath.Join(dir, "nope")}, "-voice-media-dir ($COVEN_WORKER_VOICE_MEDIA_DIR)"},
		{"recordings directory a file", []string{"-voice-recordings-dir", file}, "-voice-recordings-dir ($COVEN_WORKER_VOICE_RECORDINGS_DIR)"},
		{"unknown scheme", []string{"-voice-gateway-scheme", "http"}, "-voice-gateway-scheme"},
		{"join timeout too short", []string{"-voice-join-timeout", "1ms"}, "-voice-join-timeout"},
		{"handshake timeout too long", []string{"-voice-handshake-timeout", "1h"}, "-voice-handshake-timeout"},
		{"tiny recording limit", []string{"-voice-max-recording-bytes", "10"}, "-voice-max-recording-bytes"},
		{"huge request limit", []string{"-voice-max-request-bytes", "100000000"}, "-voice-max-request-bytes"},
		{"no replay memory", []string{"-voice-max-recent-requests", "0"}, "-voice-max-recent-requests"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.args, getenv(baseEnv(dir)))
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want one containing %q", err, c.msg)
			}
		})
	}
}
