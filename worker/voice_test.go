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
		{"table listen not an IP", []string{"-table-listen", "localhost"}, "-table-listen ($COVEN_WORKER_TABLE_LISTEN)"},
		{"table public address not an IP", []string{"-table-public-ip", "1.2.3.4, example.com"}, `"example.com" is not an IP address`},
		{"table port out of range", []string{"-table-udp-port", "70000"}, "-table-udp-port"},
		{"table TCP port below -1", []string{"-table-tcp-port", "-2"}, "-table-tcp-port"},
		{"no table sessions", []string{"-table-max-sessions", "0"}, "-table-max-sessions"},
		{"no publishers", []string{"-table-max-publishers", "0"}, "-table-max-publishers"},
		{"too many publishers per room", []string{"-table-max-publishers-per-room", "5000"}, "-table-max-publishers-per-room"},
		{"table idle timeout too long", []string{"-table-idle-timeout", "48h"}, "-table-idle-timeout"},
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

// TestLoadTableSettings: table view is off by default, and its settings reach the relay.
func TestLoadTableSettings(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load(nil, getenv(baseEnv(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.tableConfig() != nil || cfg.TableUDPPort != DefaultTablePort || cfg.TableIdleTimeout != voicectl.DefaultTableIdleTimeout {
		t.Fatalf("table defaults %+v", cfg)
	}
	env := baseEnv(dir)
	env["COVEN_WORKER_TABLE_PUBLIC_IP"] = "203.0.113.7, 2001:db8::7"
	env["COVEN_WORKER_TABLE_MAX_PUBLISHERS_PER_ROOM"] = "3"
	cfg, err = Load([]string{"-table-listen", "0.0.0.0", "-table-tcp-port", "-1", "-table-max-sessions", "50", "-table-max-publishers", "9"}, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.tableConfig()
	if rc == nil || rc.ListenIP != "0.0.0.0" || rc.TCPPort != -1 || rc.MaxSessions != 50 || len(rc.PublicIPs) != 2 || rc.PublicIPs[1] != "2001:db8::7" ||
		rc.MaxPublishers != 9 || rc.MaxPublishersPerRoom != 3 {
		t.Fatalf("relay configuration %+v", rc)
	}
}
