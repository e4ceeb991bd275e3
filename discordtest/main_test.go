package discordtest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testToken   = "test-bot-token.secret"
	testControl = "test-control-token.secret"
)

// testConfig is a fast emulator: short heartbeats, a generous identify throttle, and no REST rate
// limits except in the tests about them.
func testConfig() Config {
	return Config{
		BotTokens:    []string{testToken},
		ControlToken: testControl,
		REST:         RESTConfig{RateLimitsDisabled: true},
		Gateway: GatewayConfig{
			HeartbeatInterval: 200 * time.Millisecond,
			// Raw protocol tests do not heartbeat; the test about timeouts sets its own.
			HeartbeatTimeout:       time.Minute,
			IdentifyMaxConcurrency: 100,
		},
	}
}

// startEmulator starts an emulator on a free loopback port and closes it when the test ends.
func startEmulator(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	if os.Getenv("DISCORDTEST_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// apiCall is one REST request for the tests.
type apiCall struct {
	method  string
	path    string // after the base URL, e.g. "/api/v10/users/@me"
	body    any    // encoded as JSON unless it is a string or []byte
	auth    string // Authorization header; "" sends none
	headers map[string]string
}

// do sends the request and returns the answer with its body read.
func (c apiCall) do(t testing.TB, s *Server) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		body = bytes.NewBufferString(b)
	case []byte:
		body = bytes.NewBuffer(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewBuffer(raw)
	}
	req, err := http.NewRequest(c.method, s.URL()+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// botAuth is the Authorization header of the test bot.
const botAuth = "Bot " + testToken

// decodeJSON decodes raw into a generic value, failing the test on error.
func decodeJSON[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// firstGuild returns the seeded guild.
func firstGuild(t *testing.T, s *Server) Guild {
	t.Helper()
	gs := s.Guilds()
	if len(gs) == 0 {
		t.Fatal("no guild")
	}
	return gs[0]
}
