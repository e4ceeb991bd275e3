package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/deadletter"
)

func runWith(args []string, env map[string]string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageAndConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help", []string{"-h"}, 0, "$COVEN_WORKER_OUTBOX_DIR"},
		{"no configuration", nil, exitUsage, "-token ($DISCORD_BOT_TOKEN) or -token-file"},
		{"deadletter without a verb", []string{"deadletter"}, exitUsage, "Usage:"},
		{"deadletter without a store", []string{"deadletter", "list"}, exitUsage, "-outbox ($COVEN_WORKER_OUTBOX_DIR) or -dead-letter-dir"},
		{"replay without ids", []string{"deadletter", "replay", "-outbox", "x"}, exitUsage, "give -all or letter ids"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runWith(c.args, nil)
			if code != c.code || !strings.Contains(out+errOut, c.out) {
				t.Fatalf("exit %d, output %q%q; want %d and %q", code, out, errOut, c.code, c.out)
			}
		})
	}
}

func letter(t *testing.T, id string, seq uint64, raw string) deadletter.Letter {
	t.Helper()
	if raw == "" {
		e, err := event.New(event.Position{Epoch: "ep", Seq: seq}, "1100000000000000001", time.Unix(1700000000, 0), event.VoiceLeft,
			event.VoiceLeftPayload{RoomID: "1200000000000000001", UserID: "1300000000000000001"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(e)
		raw = string(b)
	}
	return deadletter.Letter{ID: id, At: time.Unix(1700000000+int64(seq), 0).UTC(), Status: 400, Code: "invalid_batch", Message: "refused", Events: []json.RawMessage{json.RawMessage(raw)}}
}

func TestDeadLetterListAndReplay(t *testing.T) {
	outbox := t.TempDir()
	store, err := deadletter.Open(filepath.Join(outbox, "deadletter"), 0)
	if err != nil {
		t.Fatal(err)
	}
	store.Put(letter(t, "ep-1-1", 1, ""))
	store.Put(letter(t, "ep-2-2", 2, ""))
	store.Put(letter(t, "ep-3-3", 3, `{"v":7}`))
	env := map[string]string{"COVEN_WORKER_OUTBOX_DIR": outbox}

	code, out, _ := runWith([]string{"deadletter", "list"}, env)
	if code != 0 || !strings.Contains(out, "ep-1-1") || !strings.Contains(out, "voice.left") || !strings.Contains(out, "invalid") ||
		!strings.Contains(out, "invalid_batch refused") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	cases := []struct {
		name string
		args []string
		code int
		out  string
		left string
	}{
		{"unknown id", []string{"deadletter", "replay", "ep-9-9"}, exitFailure, `no letter "ep-9-9"`, "ep-1-1 ep-2-2 ep-3-3"},
		{"invalid letter refused", []string{"deadletter", "replay", "-all"}, exitFailure, "letter ep-3-3 cannot be replayed", "ep-1-1 ep-2-2 ep-3-3"},
		{"one letter", []string{"deadletter", "replay", "ep-2-2"}, 0, "1 letters will be replayed", "ep-1-1 ep-3-3"},
		{"list an unknown id", []string{"deadletter", "list", "ep-2-2"}, exitFailure, "not in", "ep-1-1 ep-3-3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runWith(c.args, env)
			if code != c.code || !strings.Contains(out+errOut, c.out) {
				t.Fatalf("exit %d, output %q %q; want %d and %q", code, out, errOut, c.code, c.out)
			}
			ls, _ := store.List()
			var ids []string
			for _, l := range ls {
				ids = append(ids, l.ID)
			}
			if got := strings.Join(ids, " "); got != c.left {
				t.Fatalf("letters left %q, want %q", got, c.left)
			}
		})
	}
	if rs, _ := store.Replays(); fmt.Sprint(len(rs)) != "1" || rs[0].ID != "ep-2-2" {
		t.Fatalf("replays %+v", rs)
	}
}

// TestBadVoiceBotTokens: an empty or malformed voice bot token stops the start with exit 2 and
// a message naming the setting and the token's place, never the token.
func TestBadVoiceBotTokens(t *testing.T) {
	dir := t.TempDir()
	const token, voiceToken = "main-bot-token.never-printed", "voice-bot-token.never-printed"
	env := map[string]string{
		"DISCORD_BOT_TOKEN": token, "DISCORD_GUILD_ID": "1100000000000000001", "DISCORD_CATEGORY_ID": "1110000000000000001",
		"COVEN_EDGE_URL": "http://127.0.0.1:1/internal/events", "COVEN_WEBHOOK_SECRET": "webhook-secret-never-printed",
		"COVEN_WORKER_OUTBOX_DIR": dir,
	}
	empty := filepath.Join(dir, "voice-tokens")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		set  map[string]string
		out  string
	}{
		{"empty file", map[string]string{"DISCORD_VOICE_BOT_TOKEN_FILE": empty}, "-voice-token-file ($DISCORD_VOICE_BOT_TOKEN_FILE): " + empty + " is empty"},
		{"empty token", map[string]string{"DISCORD_VOICE_BOT_TOKENS": voiceToken + ","}, "-voice-tokens ($DISCORD_VOICE_BOT_TOKENS): token 2 is empty"},
		{"the main bot's", map[string]string{"DISCORD_VOICE_BOT_TOKENS": token}, "token 1 is the main bot's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := maps.Clone(env)
			maps.Copy(e, c.set)
			code, out, errOut := runWith(nil, e)
			if code != exitUsage || !strings.Contains(errOut, c.out) {
				t.Fatalf("exit %d, output %q%q; want %d and %q", code, out, errOut, exitUsage, c.out)
			}
			if strings.Contains(out+errOut, token) || strings.Contains(out+errOut, voiceToken) {
				t.Fatal("a token is printed")
			}
		})
	}
}
