package discordrest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spellcoven/gateway/discordtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testToken = "MTEwMDAwMDAwMDAwMDAwMDAw.Gtest.token-that-must-never-be-logged"
	guildID   = "1100000000000000001"
	category  = "1100000000000000002"
	ownerID   = "1300000000000000001"
)

// waitLimit bounds every wait of these tests; nothing legitimate comes close to it.
const waitLimit = 10 * time.Second

// startEmulator runs a Discord emulator with one guild, its rooms category and one member, and closes
// it when the test ends.
func startEmulator(t *testing.T, mutate func(*discordtest.Config)) *discordtest.Server {
	t.Helper()
	cfg := discordtest.Config{
		BotTokens: []string{testToken},
		Guilds:    []discordtest.GuildConfig{{ID: guildID, RoomsCategoryID: category, Channels: []discordtest.Channel{}}},
		Users:     []discordtest.User{{ID: ownerID, Username: "alice"}},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := discordtest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newClient returns a client of baseURL with fast backoffs, whose logs are observed.
func newClient(t *testing.T, baseURL string, mutate func(*Config)) (*Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	cfg := Config{
		BaseURL:     baseURL,
		Token:       testToken,
		HTTPClient:  &http.Client{Transport: transport},
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  80 * time.Millisecond,
		Logger:      zap.New(core),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scripted is a REST server that answers each request with the next scripted answer (the last one
// repeats), and records what it received.
type scripted struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	got     []received
	hits    atomic.Int64
}

type answer struct {
	status int
	header map[string]string
	body   string
}

type received struct {
	method, path, auth, audit string
	at                        time.Time
}

func newScripted(t *testing.T, answers ...answer) *scripted {
	s := &scripted{answers: answers}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.got)
		s.got = append(s.got, received{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Audit-Log-Reason"), time.Now()})
		a := s.answers[min(n, len(s.answers)-1)]
		s.mu.Unlock()
		s.hits.Add(1)
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		if a.body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

const channelJSON = `{"id":"1200000000000000001","guild_id":"1100000000000000001","type":2,"name":"Table","position":1,` +
	`"parent_id":"1100000000000000002","user_limit":4,"permission_overwrites":[]}`

// assertNoToken fails if the token appears in err or in any observed log entry.
func assertNoToken(t *testing.T, logs *observer.ObservedLogs, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("the token appears in an error: %v", err)
		}
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if strings.Contains(line, testToken) || strings.Contains(line, "Gtest") {
			t.Errorf("the token appears in a log entry: %s", line)
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}
