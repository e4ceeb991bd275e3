package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	botToken     = "emulator-bot-token.secret"
	controlToken = "emulator-control-token.secret"
)

func get(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "discord-emulator")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-users", "alice:Alice,bob", "-heartbeat-interval", "500ms")
	cmd.Env = append(os.Environ(), "DISCORD_BOT_TOKEN="+botToken, "DISCORD_EMULATOR_CONTROL_TOKEN="+controlToken)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var base string
	select {
	case base = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatalf("no URL printed; stderr:\n%s", stderr)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first line %q is not the URL; stderr:\n%s", base, stderr)
	}

	if code, body := get(t, base+"/api/v10/users/@me", "Bot "+botToken); code != 200 || !strings.Contains(string(body), `"bot":true`) {
		t.Fatalf("GET /users/@me: %d %s", code, body)
	}
	if code, _ := get(t, base+"/api/v10/users/@me", "Bot wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	code, body := get(t, base+"/_emulator/state", "Bearer "+controlToken)
	var state struct {
		Users []struct {
			Username   string `json:"username"`
			GlobalName string `json:"global_name"`
		} `json:"users"`
	}
	if err := json.Unmarshal(body, &state); code != 200 || err != nil || len(state.Users) != 2 || state.Users[0].GlobalName != "Alice" {
		t.Fatalf("control state: %d %s", code, body)
	}

	dialCtx, dialCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dialCancel()
	ws, _, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(base, "http")+"/gateway?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, hello, err := ws.Read(dialCtx)
	if err != nil || !strings.Contains(string(hello), `"heartbeat_interval":500`) {
		t.Fatalf("gateway hello %s, %v", hello, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A graceful stop tells gateway clients to reconnect elsewhere.
	_, reconnect, err := ws.Read(dialCtx)
	if err != nil || !strings.Contains(string(reconnect), `"op":7`) {
		t.Fatalf("after SIGTERM: %s, %v; want op 7", reconnect, err)
	}
	_ = ws.CloseNow()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "emulator ready") || !strings.Contains(logs, "stopped") {
		t.Fatalf("logs lack start or stop:\n%s", logs)
	}
	if strings.Contains(logs, botToken) || strings.Contains(logs, controlToken) {
		t.Fatalf("logs reveal a token:\n%s", logs)
	}
}

func TestRunRejectsBadSettings(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gap := filepath.Join(dir, "gap")
	if err := os.WriteFile(gap, []byte("voice-one\n\nvoice-two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	same := filepath.Join(dir, "same")
	if err := os.WriteFile(same, []byte(botToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", nil, nil, "a bot token is required"},
		{"empty token file", []string{"-token-file", empty}, nil, "file is empty"},
		{"missing token file", []string{"-token-file", filepath.Join(dir, "nope")}, nil, "reading the bot token file"},
		{"missing control token file", []string{"-control-token-file", filepath.Join(dir, "nope")},
			map[string]string{"DISCORD_BOT_TOKEN": botToken}, "reading the control token file"},
		{"same control and bot token", nil,
			map[string]string{"DISCORD_BOT_TOKEN": botToken, "DISCORD_EMULATOR_CONTROL_TOKEN": botToken}, "must differ"},
		{"empty voice token file", []string{"-voice-token-file", empty}, map[string]string{"DISCORD_BOT_TOKEN": botToken}, "voice bot token file is empty"},
		{"voice token file with an empty line", []string{"-voice-token-file", gap}, map[string]string{"DISCORD_BOT_TOKEN": botToken}, "line 2 of the voice bot token file is empty"},
		{"voice token the bot's", []string{"-voice-token-file", same}, map[string]string{"DISCORD_BOT_TOKEN": botToken}, "voice bot 0's token is another bot's"},
		{"bad users", []string{"-users", "alice,,bob"}, map[string]string{"DISCORD_BOT_TOKEN": botToken}, "empty username"},
		{"bad log level", []string{"-log-level", "loud"}, map[string]string{"DISCORD_BOT_TOKEN": botToken}, "-log-level"},
		{"bad guild ID", nil, map[string]string{"DISCORD_BOT_TOKEN": botToken, "DISCORD_GUILD_ID": "guild"}, "not a snowflake"},
		{"unknown flag", []string{"-nope"}, nil, "flag provided but not defined"},
		{"extra arguments", []string{"serve"}, nil, "unexpected arguments"},
		{"negative heartbeat", []string{"-heartbeat-interval", "-1s"}, map[string]string{"DISCORD_BOT_TOKEN": botToken}, "HeartbeatInterval"},
		{"unknown privileged intent", []string{"-privileged-intents", "guild_members,presences"}, map[string]string{"DISCORD_BOT_TOKEN": botToken},
			`"presences" is not one of guild_members, guild_presences, message_content`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), botToken) || strings.Contains(stderr.String(), botToken) {
				t.Fatal("the error reveals the token")
			}
			if stdout.Len() != 0 {
				t.Fatalf("printed %q before failing", stdout.String())
			}
		})
	}
}

func TestRunWithTokenFileAndFixedIDs(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(botToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-token-file", tokenFile, "-guild-id", "1000000000000000001", "-category-id", "1000000000000000002",
			"-shutdown-timeout", "1s"}, func(string) string { return "" }, pw, stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no URL; stderr:\n%s", stderr)
	}
	base := sc.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	code, body := get(t, base+"/api/v10/guilds/1000000000000000001/channels", "Bot "+botToken)
	if code != 200 || !strings.Contains(string(body), `"id":"1000000000000000002"`) {
		t.Fatalf("channels of the fixed guild: %d %s", code, body)
	}
	// Without a control token the control API is off.
	if code, _ := get(t, base+"/_emulator/state", "Bearer anything"); code != 404 {
		t.Fatalf("control API without a control token: %d, want 404", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// -privileged-intents enables the developer portal's switches: the emulator then accepts them in an
// identify (its own tests check what a session with and without them receives).
func TestPrivilegedIntentsFlag(t *testing.T) {
	env := func(k string) string { return map[string]string{"DISCORD_BOT_TOKEN": botToken}[k] }
	for in, want := range map[string]discordtest.Intents{
		"":                               0,
		"guild_members":                  discordtest.IntentGuildMembers,
		"guild_members, message_content": discordtest.IntentGuildMembers | discordtest.IntentMessageContent,
		"guild_presences,guild_members,": discordtest.IntentGuildPresences | discordtest.IntentGuildMembers,
	} {
		cfg, err := options{privileged: in, logLevel: "info"}.config(env, io.Discard)
		if err != nil || cfg.Gateway.PrivilegedIntents != want {
			t.Errorf("-privileged-intents %q: %d, %v; want %d", in, cfg.Gateway.PrivilegedIntents, err, want)
		}
	}
}

// startRun runs the command in this process with args and returns its base URL and stderr; it
// stops when the test ends.
func startRun(t *testing.T, args ...string) (string, *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-shutdown-timeout", "1s"}, args...), func(k string) string {
			return map[string]string{"DISCORD_BOT_TOKEN": botToken}[k]
		}, pw, stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no URL; stderr:\n%s", stderr)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return sc.Text(), stderr
}

// joinVoice identifies on the gateway at base, sends op 4 for the Lobby channel of the fixed guild
// and returns VOICE_SERVER_UPDATE's endpoint (nil for null).
func joinVoice(t *testing.T, base string) any {
	t.Helper()
	const guildID = "1000000000000000001"
	_, body := get(t, base+"/api/v10/guilds/"+guildID+"/channels", "Bot "+botToken)
	var channels []struct{ ID, Name string }
	if err := json.Unmarshal(body, &channels); err != nil {
		t.Fatal(err)
	}
	lobby := ""
	for _, c := range channels {
		if c.Name == "Lobby" {
			lobby = c.ID
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/gateway?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(op int, d any) {
		b, _ := json.Marshal(map[string]any{"op": op, "d": d})
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(2, map[string]any{"token": botToken, "intents": 129, "properties": map[string]string{"os": "linux", "browser": "test", "device": "test"}})
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("gateway: %v", err)
		}
		var p struct {
			T string         `json:"t"`
			D map[string]any `json:"d"`
		}
		_ = json.Unmarshal(msg, &p)
		switch p.T {
		case "READY":
			send(4, map[string]any{"guild_id": guildID, "channel_id": lobby, "self_mute": false, "self_deaf": false})
		case "VOICE_SERVER_UPDATE":
			return p.D["endpoint"]
		}
	}
}

func TestVoiceServerServedByDefault(t *testing.T) {
	base, stderr := startRun(t, "-guild-id", "1000000000000000001")
	endpoint, ok := joinVoice(t, base).(string)
	if !ok || !strings.HasPrefix(endpoint, "127.0.0.1:") || !strings.Contains(stderr.String(), "voice="+endpoint) {
		t.Fatalf("endpoint %v; logs:\n%s", endpoint, stderr)
	}
	// The endpoint is a voice gateway: it says hello (op 8).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+endpoint+"/?v=8", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, hello, err := ws.Read(ctx); err != nil || !strings.Contains(string(hello), `"op":8`) {
		t.Fatalf("voice hello %s, %v", hello, err)
	}

	base, _ = startRun(t, "-guild-id", "1000000000000000001", "-voice-server=false")
	if endpoint := joinVoice(t, base); endpoint != nil {
		t.Fatalf("endpoint %v with -voice-server=false, want null", endpoint)
	}
	base, _ = startRun(t, "-guild-id", "1000000000000000001", "-voice-endpoint", "voice.example:443")
	if endpoint := joinVoice(t, base); endpoint != "voice.example:443" {
		t.Fatalf("endpoint %v with -voice-endpoint, want voice.example:443", endpoint)
	}
}
