package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/worker/discordgw"
)

const (
	testVoiceToken  = "MTEwMDAwMDAwMDAwMDAwMDAx.Gvoice.voice-bot-token-that-must-never-be-logged"
	testVoiceToken2 = "MTEwMDAwMDAwMDAwMDAwMDAy.Gvoice.second-voice-bot-token-never-logged"
)

// TestLoadVoiceTokens: the voice bots' tokens come from a file, one a line, or from a list.
func TestLoadVoiceTokens(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load(nil, getenv(baseEnv(dir)))
	if err != nil || len(cfg.VoiceTokens) != 0 || cfg.VoiceMaxBots != DefaultVoiceMaxBots {
		t.Fatalf("no voice bots by default: %v %d %d", err, len(cfg.VoiceTokens), cfg.VoiceMaxBots)
	}
	file := filepath.Join(dir, "voice")
	os.WriteFile(file, []byte(testVoiceToken+"\r\n"+testVoiceToken2+"\n"), 0o600)
	env := baseEnv(dir)
	env["DISCORD_VOICE_BOT_TOKEN_FILE"] = file
	cfg, err = Load(nil, getenv(env))
	if err != nil || len(cfg.VoiceTokens) != 2 || cfg.VoiceTokens[0] != testVoiceToken || cfg.VoiceTokens[1] != testVoiceToken2 {
		t.Fatalf("from the file: %v, %d tokens", err, len(cfg.VoiceTokens))
	}
	cfg, err = Load([]string{"-voice-tokens", testVoiceToken2 + "," + testVoiceToken}, getenv(baseEnv(dir)))
	if err != nil || len(cfg.VoiceTokens) != 2 || cfg.VoiceTokens[0] != testVoiceToken2 {
		t.Fatalf("from the list: %v, %d tokens", err, len(cfg.VoiceTokens))
	}
	if s := fmt.Sprint(cfg); !strings.Contains(s, "voice_bots=3") || strings.Contains(s, testVoiceToken) {
		t.Fatalf("printed config %s", s)
	}
}

// TestLoadRefusesVoiceTokens: each bad voice bot token is named by its place, never quoted.
func TestLoadRefusesVoiceTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"empty file", map[string]string{"DISCORD_VOICE_BOT_TOKEN_FILE": write("empty", "\n")}, nil,
			"-voice-token-file ($DISCORD_VOICE_BOT_TOKEN_FILE): " + filepath.Join(dir, "empty") + " is empty"},
		{"missing file", nil, []string{"-voice-token-file", filepath.Join(dir, "nope")}, "-voice-token-file ($DISCORD_VOICE_BOT_TOKEN_FILE): open"},
		{"empty line", nil, []string{"-voice-token-file", write("gap", testVoiceToken+"\n\n"+testVoiceToken2)}, "line 2 of"},
		{"empty in the list", map[string]string{"DISCORD_VOICE_BOT_TOKENS": testVoiceToken + ","}, nil, "-voice-tokens ($DISCORD_VOICE_BOT_TOKENS): token 2 is empty"},
		{"white space", nil, []string{"-voice-token-file", write("space", testVoiceToken+" x\n")}, "token 1 contains white space"},
		{"repeated", nil, []string{"-voice-tokens", testVoiceToken + "," + testVoiceToken2 + "," + testVoiceToken}, "token 3 repeats token 1"},
		{"the main bot's", nil, []string{"-voice-tokens", testToken}, "token 1 is the main bot's (-token)"},
		{"both", map[string]string{"DISCORD_VOICE_BOT_TOKENS": testVoiceToken}, []string{"-voice-token-file", write("one", testVoiceToken2)}, "set one, not both"},
		{"too many", nil, []string{"-voice-tokens", testVoiceToken + "," + testVoiceToken2, "-voice-max-bots", "2"},
			"3 voice bots with the main bot, over -voice-max-bots ($COVEN_WORKER_VOICE_MAX_BOTS) 2"},
		{"max bots out of range", nil, []string{"-voice-max-bots", "0"}, "-voice-max-bots ($COVEN_WORKER_VOICE_MAX_BOTS): must be between 1 and 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := baseEnv(dir)
			for k, v := range c.env {
				env[k] = v
			}
			_, err := Load(c.args, getenv(env))
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want one containing %q", err, c.msg)
			}
			for _, secret := range []string{testToken, testVoiceToken, testVoiceToken2} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error quotes a secret: %v", err)
				}
			}
		})
	}
}

// TestWorkerRunsVoiceBots: each voice bot token opens a gateway session of its own, as its own
// bot user, paced like the main one; the events still come from the main session alone, and no
// token reaches the logs.
func TestWorkerRunsVoiceBots(t *testing.T) {
	s := startStackWith(t, testToken, func(c *discordtest.Config) {
		c.VoiceBots = []discordtest.VoiceBotConfig{{Token: testVoiceToken}, {Token: testVoiceToken2}}
	}, func(c *Config) { c.VoiceTokens = []string{testVoiceToken, testVoiceToken2} })
	bots := s.emu.VoiceBots()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := s.w.voice.BotIDs()
		if len(ids) == 3 && ids[0] == s.emu.Bot().ID && ids[1] == bots[0].ID && ids[2] == bots[1].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("voice bot ids %q, want the main bot's then %s and %s", ids, bots[0].ID, bots[1].ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sessions := s.emu.Sessions()
	if len(sessions) != 3 {
		t.Fatalf("%d gateway sessions, want one per bot", len(sessions))
	}
	users := map[string]bool{}
	for _, ss := range sessions {
		if ss.Intents != discordtest.IntentGuilds|discordtest.IntentGuildVoiceStates {
			t.Fatalf("a session asked for intents %d", ss.Intents)
		}
		users[ss.UserID] = true
	}
	if !users[s.emu.Bot().ID] || !users[bots[0].ID] || !users[bots[1].ID] {
		t.Fatalf("sessions' bots %v", users)
	}
	st := s.w.voice.Status()
	if len(st.Bots) != 3 || st.Bots[1].BotID != bots[0].ID || st.Bots[1].State != "idle" {
		t.Fatalf("status %+v", st)
	}
	s.converged(t)
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no stop")
	}
	logs := s.logs.String()
	for _, secret := range []string{testToken, testVoiceToken, testVoiceToken2} {
		if strings.Contains(logs, secret) {
			t.Fatal("a token appears in the logs")
		}
	}
	if !strings.Contains(logs, `"voice_bots":3`) || !strings.Contains(logs, "voice bot connected") {
		t.Fatalf("the logs do not say the voice bots:\n%s", logs)
	}
}

// TestWorkerStopsOnAVoiceBotsFatalClose: Discord refusing a voice bot's token stops the worker
// as a refused main token does, naming the voice bot.
func TestWorkerStopsOnAVoiceBotsFatalClose(t *testing.T) {
	s := startStackWith(t, testToken, nil, func(c *Config) { c.VoiceTokens = []string{"wrong-voice-token"} })
	select {
	case err := <-s.done:
		s.done <- err
		var fe *discordgw.FatalCloseError
		if !errors.As(err, &fe) || fe.Code != 4004 || !strings.HasPrefix(err.Error(), "voice bot 1: ") {
			t.Fatalf("Run = %v, want a fatal 4004 of voice bot 1", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the worker kept running after its voice bot's 4004")
	}
	if strings.Contains(s.logs.String(), "wrong-voice-token") {
		t.Fatal("the token appears in the logs")
	}
}

// TestConfigNeverPrintsVoiceTokens: a printed configuration counts the voice bots, and never
// shows their tokens.
func TestConfigNeverPrintsVoiceTokens(t *testing.T) {
	env := baseEnv(t.TempDir())
	env["DISCORD_VOICE_BOT_TOKENS"] = testVoiceToken + "," + testVoiceToken2
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", cfg)
	for _, p := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logs.String()} {
		if strings.Contains(p, testVoiceToken) || strings.Contains(p, testVoiceToken2) {
			t.Fatalf("a voice bot token is printed: %s", p)
		}
	}
}

// TestReadinessReportsTheVoiceBots: /readyz says how many voice bots are connected, and which are
// not, without making the worker unready: events and the main bot's voice go on.
func TestReadinessReportsTheVoiceBots(t *testing.T) {
	s := startStackWith(t, testToken, func(c *discordtest.Config) {
		c.VoiceBots = []discordtest.VoiceBotConfig{{Token: testVoiceToken}, {Token: testVoiceToken2}}
	}, func(c *Config) {
		c.VoiceTokens = []string{testVoiceToken, testVoiceToken2}
		// A session dropped stays down for the test's length.
		c.ReconnectInitial, c.ReconnectMax = time.Hour, time.Hour
	})
	s.converged(t)
	type readiness struct {
		Ready  bool
		Checks map[string]Check
	}
	waitFor := func(what string, ok func(r readiness) bool) readiness {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, body := s.get(t, "/readyz")
			var r readiness
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("/readyz: %v: %s", err, body)
			}
			if ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz %s", what, body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	r := waitFor("ready, both voice bots connected", func(r readiness) bool { return r.Ready && r.Checks["voice_bots"].OK })
	if c := r.Checks["voice_bots"]; !r.Ready || !c.Advisory || c.Detail != "2 of 2 voice bots connected" {
		t.Fatalf("readiness %+v", r)
	}
	second := s.emu.VoiceBots()[1].ID
	for _, ss := range s.emu.Sessions() {
		if ss.UserID == second {
			if err := s.emu.DropConnection(ss.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r = waitFor("voice bot 2 down", func(r readiness) bool { return !r.Checks["voice_bots"].OK })
	if c := r.Checks["voice_bots"]; !r.Ready || !strings.HasPrefix(c.Detail, "1 of 2 voice bots connected; not connected: 2") {
		t.Fatalf("with voice bot 2 down: %+v", r)
	}
}
