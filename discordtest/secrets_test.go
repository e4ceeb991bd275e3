package discordtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedLog collects the emulator's logs from several goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestLogsNeverRevealTokens(t *testing.T) {
	const wrong = "wrong-token.secret"
	logs := &lockedLog{}
	s := startEmulator(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Gateway.SessionStartLimit = 2
		c.VoiceBots = []VoiceBotConfig{{Token: testVoiceToken}}
	})
	guild := firstGuild(t, s)

	for _, auth := range []string{botAuth, "Bot " + wrong, testToken} {
		apiCall{method: "GET", path: "/api/v10/users/@me", auth: auth}.do(t, s)
	}
	apiCall{method: "POST", path: "/api/v10/guilds/" + guild.ID + "/channels", auth: botAuth, body: map[string]any{"name": "x"}}.do(t, s)
	for _, auth := range []string{"Bearer " + testControl, "Bearer " + wrong, botAuth} {
		apiCall{method: "GET", path: "/_emulator/state", auth: auth}.do(t, s)
	}

	g := dialGateway(t, s, v10)
	ready := g.identify(IntentGuilds)
	g.closeWith(4000)
	resumeOn(t, s, testToken, ready["session_id"].(string), 1).expectDispatch("GUILD_CREATE")
	resumeOn(t, s, wrong, ready["session_id"].(string), 1).expectClose(4004)
	bad := dialGateway(t, s, v10)
	bad.next(5 * time.Second)
	bad.send(opIdentify, identifyPayload(wrong, IntentGuilds))
	bad.expectClose(4004)
	// A voice bot's session starts are its own: it spends its two and its token is reset; the
	// main bot's are untouched.
	apiCall{method: "GET", path: "/api/v10/users/@me", auth: "Bot " + testVoiceToken}.do(t, s)
	voiceBotIdentify(t, s, testVoiceToken)
	voiceBotIdentify(t, s, testVoiceToken)
	voiceOver := dialGateway(t, s, v10)
	voiceOver.next(5 * time.Second)
	voiceOver.send(opIdentify, identifyPayload(testVoiceToken, IntentGuilds))
	voiceOver.expectClose(4004)
	if resp, _ := (apiCall{method: "GET", path: "/api/v10/users/@me", auth: "Bot " + testVoiceToken}.do(t, s)); resp.StatusCode != 401 {
		t.Fatalf("a reset voice bot token answered %d", resp.StatusCode)
	}
	// The second identify uses up the session start limit, which Discord answers by resetting the token.
	spent := dialGateway(t, s, v10)
	spent.identify(IntentGuilds)
	over := dialGateway(t, s, v10)
	over.next(5 * time.Second)
	over.send(opIdentify, identifyPayload(testToken, IntentGuilds))
	over.expectClose(4004)

	out := logs.String()
	if !strings.Contains(out, "gateway session identified") {
		t.Fatalf("the test did not capture the emulator's logs:\n%s", out)
	}
	for _, secret := range []string{testToken, testControl, wrong, testVoiceToken} {
		if strings.Contains(out, secret) {
			t.Fatalf("logs reveal %q:\n%s", secret, out)
		}
	}
	for _, e := range []error{s.SendReconnect("nope"), s.AddRESTFault(RESTFault{Kind: "x"})} {
		for _, secret := range []string{testToken, testControl} {
			if strings.Contains(e.Error(), secret) {
				t.Fatalf("error %q reveals a token", e)
			}
		}
	}
}
