package stack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/internal/proc"
)

// stack is one emulated Discord, one identity provider, one edge and one worker between them.
type stack struct {
	t      testing.TB
	emu    *discordtest.Server
	guild  discordtest.Guild
	idp    *authtest.Issuer
	edge   *edgetest.Edge
	worker *workerProc
	// outbox is the worker's outbox directory, kept across worker restarts.
	outbox string
	// workerListen is the worker's -listen address (health, metrics, control), kept across
	// restarts.
	workerListen string
	// voiceTokens are the tokens of the worker's voice bots beside the main bot, which no log
	// may show; voiceTokenFile holds them, one a line, for every start of the worker.
	voiceTokens    []string
	voiceTokenFile string
}

// stackOptions vary a stack.
type stackOptions struct {
	// token is the bot token the worker uses (default: the one the emulator accepts).
	token string
	// workerArgs are extra flags of the worker.
	workerArgs []string
	// heartbeat is the emulator's heartbeat interval (default 200 ms).
	heartbeat time.Duration
	// edgeGlobal holds extra lines of the edge's coven global option (e.g. a Redis broker).
	edgeGlobal string
	// voice is the emulator's voice backend (default: none announced).
	voice discordtest.VoiceBackend
	// edgeSite holds extra site directives of the edge; {{worker}} in them is replaced by the
	// worker's control address.
	edgeSite string
	// identifyConcurrency is the emulator's identifies per 5 s (default 100; Discord's is 1).
	identifyConcurrency int
	// voiceBots is how many voice bots the worker has beside the main bot (default none): each
	// a bot user of the emulator with a token of its own, which the worker reads from a
	// -voice-token-file.
	voiceBots int
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	if o.heartbeat == 0 {
		o.heartbeat = 200 * time.Millisecond
	}
	if o.identifyConcurrency == 0 {
		o.identifyConcurrency = 100
	}
	var voiceBots []discordtest.VoiceBotConfig
	var voiceTokens []string
	for i := range o.voiceBots {
		token := fmt.Sprintf("MTEwMDAwMDAwMDAwMDAwMD%02d.Gvoice.voice-bot-token-that-must-never-be-logged", i+1)
		voiceBots = append(voiceBots, discordtest.VoiceBotConfig{Token: token})
		voiceTokens = append(voiceTokens, token)
	}
	emu, err := discordtest.New(discordtest.Config{
		BotTokens: []string{edgetest.BotToken},
		VoiceBots: voiceBots,
		Guilds:    []discordtest.GuildConfig{{ID: edgetest.GuildID}},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
		Gateway: discordtest.GatewayConfig{
			HeartbeatInterval:      o.heartbeat,
			HeartbeatTimeout:       time.Minute, // a loaded machine can starve the worker for seconds
			IdentifyMaxConcurrency: o.identifyConcurrency,
			OutboundQueue:          8192,
		},
		Voice: o.voice,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	srv := authtest.NewTestServer(t)
	s := &stack{t: t, emu: emu, guild: emu.Guilds()[0], idp: srv.Issuer, outbox: t.TempDir(), voiceTokens: voiceTokens}
	// The worker's control address is chosen first, so that the edge can name it.
	s.workerListen = fmt.Sprintf("127.0.0.1:%d", edgetest.FreePort(t))
	s.edge = edgetest.Start(t, edgetest.Config{
		Bin: caddyBin, JWKSURL: srv.JWKSURL(), Issuer: srv.Issuer.URL(),
		LogLevel: "INFO", NoAccessLog: true, MaxBody: "1MB", Global: o.edgeGlobal,
		Site: strings.ReplaceAll(o.edgeSite, "{{worker}}", s.workerListen),
	})
	// Registered after the edge's, so it runs before it: the worker stops, then the emulator.
	t.Cleanup(func() { emu.Close() })
	token := o.token
	if token == "" {
		token = edgetest.BotToken
	}
	if len(voiceTokens) > 0 {
		// Secrets come from files, as in production.
		s.voiceTokenFile = filepath.Join(t.TempDir(), "voice-bot-tokens")
		if err := os.WriteFile(s.voiceTokenFile, []byte(strings.Join(voiceTokens, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.worker = s.startWorker(token, o.workerArgs...)
	return s
}

// workerProc is a running coven-worker process.
type workerProc struct {
	*proc.Process
	t      testing.TB
	logs   *edgetest.LockedBuffer
	health string
}

// startWorker starts a worker on the stack's outbox. The token and secret travel in the
// environment, as in production.
func (s *stack) startWorker(token string, extra ...string) *workerProc {
	t := s.t
	t.Helper()
	if s.workerListen == "" {
		s.workerListen = fmt.Sprintf("127.0.0.1:%d", edgetest.FreePort(t))
	}
	health := s.workerListen
	args := append([]string{
		"-guild", s.guild.ID, "-category", s.guild.RoomsCategoryID,
		"-edge-url", s.edge.URL("/internal/events"), "-discord-api", s.emu.URL(),
		"-outbox", s.outbox, "-listen", health,
		"-backoff-initial", "50ms", "-backoff-max", "500ms",
		"-reconnect-initial", "50ms", "-reconnect-max", "500ms",
		"-keepalive", "1s", "-delivery-timeout", "2s", "-gateway-open-timeout", "5s",
		"-shutdown-timeout", "3s", "-log-level", "info",
	}, extra...)
	if s.voiceTokenFile != "" {
		args = append(args, "-voice-token-file", s.voiceTokenFile)
	}
	w := &workerProc{t: t, logs: new(edgetest.LockedBuffer), health: health}
	var err error
	w.Process, err = proc.Start("coven-worker", workerBin, args, proc.Options{
		Env:    append(os.Environ(), "DISCORD_BOT_TOKEN="+token, "COVEN_WEBHOOK_SECRET="+edgetest.WebhookSecret),
		Output: w.logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Kill()
		logs := w.logs.String()
		for _, secret := range append([]string{edgetest.BotToken, edgetest.WebhookSecret}, s.voiceTokens...) {
			if strings.Contains(logs, secret) {
				t.Errorf("a secret appears in the worker's logs")
			}
		}
		if t.Failed() {
			t.Logf("worker logs (last 8 KiB):\n%s", tail(logs, 8<<10))
		}
	})
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// exitCode waits for the worker to exit on its own and returns its exit status.
func (w *workerProc) exitCode(d time.Duration) int {
	w.t.Helper()
	select {
	case <-w.Done():
		return w.ExitCode()
	case <-time.After(d):
		w.t.Fatalf("the worker did not exit within %v", d)
		return -1
	}
}

// get fetches a health path of the worker.
func (w *workerProc) get(path string) (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + w.health + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// waitReady waits until /readyz answers 200.
func (w *workerProc) waitReady(d time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		code, body, err := w.get("/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		last = body
		select {
		case <-w.Done():
			w.t.Fatalf("the worker exited while starting:\n%s", tail(w.logs.String(), 4096))
		case <-time.After(20 * time.Millisecond):
		}
	}
	w.t.Fatalf("the worker was not ready within %v: %s", d, last)
}

// metric returns the sum of the values of a metric (every label set) on /metrics.
func (w *workerProc) metric(name string) float64 {
	w.t.Helper()
	code, body, err := w.get("/metrics")
	if err != nil || code != http.StatusOK {
		w.t.Fatalf("/metrics: %d %v", code, err)
	}
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// rest calls the emulator's REST API as the bot.
func (s *stack) rest(method, path string, body any) (int, []byte) {
	s.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.emu.URL()+"/api/v10"+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bot "+edgetest.BotToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// room creates a voice channel under the rooms category.
func (s *stack) room(name string) discordtest.Channel {
	s.t.Helper()
	c, err := s.emu.CreateChannel(s.guild.ID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: name, ParentID: s.guild.RoomsCategoryID})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// users adds n emulated users.
func (s *stack) users(n int) []discordtest.User {
	s.t.Helper()
	out := make([]discordtest.User, n)
	for i := range out {
		u, err := s.emu.AddUser(discordtest.User{Username: fmt.Sprintf("player%d", i), GlobalName: fmt.Sprintf("Player %d", i)})
		if err != nil {
			s.t.Fatal(err)
		}
		out[i] = u
	}
	return out
}

// session returns the id of the worker's connected gateway session.
func (s *stack) session() string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, info := range s.emu.Sessions() {
			if info.Connected {
				return info.ID
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatal("the worker has no connected gateway session")
	return ""
}
