package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spellcoven/gateway/worker/voicectl"
)

// TestVoiceUsage: `coven-worker voice` refuses bad usage before sending anything (exit 2).
func TestVoiceUsage(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("voice-cli-secret-0123456789abcdef\n"), 0o600)
	withSecret := map[string]string{"COVEN_WEBHOOK_SECRET": "voice-cli-secret-0123456789abcdef"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		out  string
	}{
		{"help", []string{"voice", "-h"}, nil, 0, "coven-worker voice join ROOM_ID"},
		{"no command", []string{"voice"}, nil, exitUsage, "Usage:"},
		{"unknown command", []string{"voice", "dance"}, withSecret, exitUsage, `unknown command "dance"`},
		{"record without start or stop", []string{"voice", "record"}, withSecret, exitUsage, "record takes start or stop"},
		{"join without a room", []string{"voice", "join"}, withSecret, exitUsage, "wrong number of arguments"},
		{"leave two rooms", []string{"voice", "leave", "1200000000000000001", "1200000000000000002"}, withSecret, exitUsage, "wrong number of arguments"},
		{"play two files", []string{"voice", "play", "a.opus", "b.opus"}, withSecret, exitUsage, "wrong number of arguments"},
		{"stop with a file", []string{"voice", "play", "-stop", "a.opus"}, withSecret, exitUsage, "wrong number of arguments"},
		{"stop on join", []string{"voice", "join", "-stop", "1"}, withSecret, exitUsage, "-stop goes with play only"},
		{"no secret", []string{"voice", "status"}, nil, exitUsage, "-webhook-secret ($COVEN_WEBHOOK_SECRET) or -webhook-secret-file"},
		{"secret twice", []string{"voice", "status", "-webhook-secret-file", secretFile}, withSecret, exitUsage, "set one, not both"},
		{"short secret", []string{"voice", "status", "-webhook-secret", "short"}, nil, exitUsage, "shorter than 16 bytes"},
		{"unknown scheme", []string{"voice", "status", "-webhook-scheme", "hmac"}, withSecret, exitUsage, "-webhook-scheme"},
		{"bad address", []string{"voice", "status", "-addr", "ftp://host"}, withSecret, exitUsage, "-addr"},
		{"unknown flag", []string{"voice", "status", "-loud"}, withSecret, exitUsage, "-loud"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runWith(c.args, c.env)
			if code != c.code || !strings.Contains(out+errOut, c.out) {
				t.Fatalf("exit %d, output %q%q; want %d and %q", code, out, errOut, c.code, c.out)
			}
			if strings.Contains(out+errOut, "voice-cli-secret") {
				t.Fatal("the output quotes the secret")
			}
		})
	}
}

// TestVoiceStatusListsBots: with voice bots, status shows each bot's call.
func TestVoiceStatusListsBots(t *testing.T) {
	var out bytes.Buffer
	printVoice(&out, "status", false, voicectl.Status{BotID: "1300000000000000001", State: voicectl.StateIdle, Bots: []voicectl.Status{
		{BotID: "1300000000000000001", State: voicectl.StateIdle},
		{BotID: "1300000000000000002", State: voicectl.StateJoining, RoomID: "1200000000000000001", RoomName: "Table one"},
		{State: voicectl.StateIdle},
	}})
	for _, want := range []string{"3 voice bots, 1 in a room", "main bot (user 1300000000000000001):\nidle: in no room",
		"voice bot 1 (user 1300000000000000002):\njoining room 1200000000000000001 (Table one)", "voice bot 2 (user not connected yet)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("status %q lacks %q", out.String(), want)
		}
	}
}
