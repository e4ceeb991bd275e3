package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"

	"github.com/spellcoven/gateway/internal/edgetest"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/event"
)

func TestSlowClientIsEvictedWhileOthersKeepUp(t *testing.T) {
	s := newStack(t, func(c *edgetest.Config) { c.Global = "queue_length 16\nwrite_timeout 5s" })
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)

	// The slow client authenticates, then never reads again: its socket buffers fill up, its writes
	// stall, its queue fills, and the edge closes it.
	slow, _, err := websocket.Dial(contextFor(t, 10*time.Second), s.edge.WSURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {edgetest.Origin}}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	slow.SetReadLimit(1 << 24)
	tok := s.token(t, "slowpoke", time.Hour)
	if err := slow.Write(contextFor(t, 5*time.Second), websocket.MessageText, []byte(`{"type":"auth","token":"`+tok+`"}`)); err != nil {
		t.Fatal(err)
	}
	fast, _ := s.connect(t, "fast", nil)

	// Large events fill the slow client's socket buffers (several MiB on loopback) quickly.
	bigName := strings.Repeat("n", 100)
	const maxBatches, perBatch = 400, 100
	evicted := false
	for i := 0; i < maxBatches && !evicted; i++ {
		var evs []event.Event
		for j := 0; j < perBatch; j++ {
			m := member(i*perBatch + j)
			m.Username, m.GlobalName, m.Avatar = bigName, bigName, bigName
			evs = append(evs, b.Event(t, event.VoiceJoined, event.VoiceMemberPayload{RoomID: roomID, Member: m}))
		}
		if code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1", evs...)); code != http.StatusOK {
			t.Fatalf("ingest: %d %s", code, body)
		}
		// The fast client keeps up with every batch while the slow one stalls.
		fast.ExpectEvents(uint64(2+i*perBatch), perBatch, 5*time.Second)
		var rep struct{ Hub struct{ Clients int } }
		if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil {
			t.Fatal(err)
		}
		evicted = rep.Hub.Clients == 1
	}
	if !evicted {
		t.Fatalf("the slow client was not evicted after %d events", maxBatches*perBatch)
	}
	// The slow client finds a 4008 close at the end of what it was sent.
	for {
		_, _, err := slow.Read(contextFor(t, 10*time.Second))
		if err != nil {
			if code := websocket.CloseStatus(err); code != 4008 {
				t.Fatalf("slow client closed with %d (%v), want 4008", code, err)
			}
			break
		}
	}
	if m := get(t, s.edge.URL("/metrics")); !strings.Contains(m, "coven_ws_evicted_total 1") {
		t.Fatalf("metrics do not count the eviction")
	}
}

func TestReloadKeepsClientsAndHistory(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	c, _ := s.connect(t, "alice", nil)
	s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 1)))
	c.ExpectEvents(2, 1, 5*time.Second)

	cfg := s.edge.Cfg
	cfg.Site = "respond /reloaded 204"
	s.edge.Reload(cfg)
	waitServing(t, s.edge.URL("/reloaded"))
	// The connected client survived the reload and keeps receiving.
	s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 2)))
	c.ExpectEvents(3, 1, 5*time.Second)
	// A client that disconnected before the reload resumes from the same history.
	c2, hello := s.connect(t, "bob", &event.Position{Epoch: "ep1", Seq: 1})
	if !hello.Resumed {
		t.Fatalf("hello after reload = %s", hello.Raw)
	}
	c2.ExpectEvents(2, 2, 5*time.Second)

	// A reload that changes the hub's settings starts a new hub: clients are told to reconnect (1012).
	cfg.Global = "history_size 500"
	s.edge.Reload(cfg)
	if code := c.CloseStatus(10 * time.Second); code != websocket.StatusServiceRestart {
		t.Fatalf("closed with %d, want 1012", code)
	}
}

// TestReloadWithNewJWTSettingsKeepsClients: the JWT settings have a lifetime of their own, so a
// reload that changes them (here: one more audience) keeps every client connected, and the clients'
// next re-authentication is checked under the new settings.
func TestReloadWithNewJWTSettingsKeepsClients(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	c, _ := s.connect(t, "alice", nil)

	cfg := s.edge.Cfg
	cfg.JWT = "audience second-app"
	cfg.Site = "respond /reloaded 204"
	s.edge.Reload(cfg)
	waitServing(t, s.edge.URL("/reloaded"))

	s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 1)))
	c.ExpectEvents(2, 1, 5*time.Second) // still connected: no 1012
	// A token only the new settings accept, as a re-authentication on the kept connection.
	tok, err := s.idp.MintFor("alice", "second-app", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Auth(tok, nil)
	s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 2)))
	if f := c.Next(5 * time.Second); f.Type == "error" || f.Seq != 3 {
		t.Fatalf("after re-authenticating with a token of the new audience: %s", f.Raw)
	}
	// The settings that were removed no longer apply: back to the first audience only, a token of
	// the second is refused at the next re-authentication.
	cfg.JWT = ""
	cfg.Site = "respond /reloaded-again 204"
	s.edge.Reload(cfg)
	waitServing(t, s.edge.URL("/reloaded-again"))
	c.Auth(tok, nil)
	if f := c.Next(5 * time.Second); f.Type != "error" || f.Code != "unauthorized" || !strings.Contains(f.Message, "audience") {
		t.Fatalf("a re-authentication the settings no longer allow: %s", f.Raw)
	}
}

// waitServing waits until url answers 204: the configuration that serves it is running. A connection
// the old server accepted as it stopped is closed unanswered (EOF): a client asks again.
func waitServing(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not served 10s after the reload: %v %v", url, resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSecretsNeverReachTheLogs(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	c, _ := s.connect(t, "alice", nil)
	tok := s.token(t, "alice", time.Hour)
	c.Auth(tok, nil)
	s.edge.PostSigned(edgetest.EncodeBatch(t, "ep1"), time.Now(), "wrong-secret-0123456789abcdef012")
	req, _ := http.NewRequest(http.MethodGet, s.edge.URL("/api/me"), nil)
	req.Header.Set("Authorization", "Bearer "+tok+"x")
	edgetest.Do(t, req)
	cfg, err := http.Get("http://127.0.0.1:" + itoa(s.edge.AdminPort) + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := cfg.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	s.edge.Stop(15) // SIGTERM: graceful shutdown logs too
	logs := s.edge.Logs.String()
	if !strings.Contains(logs, `"level":"debug"`) {
		t.Fatal("the edge logged nothing at debug level; the check below would prove nothing")
	}
	for name, secret := range map[string]string{"webhook secret": edgetest.WebhookSecret, "bot token": edgetest.BotToken, "user token": tok[strings.LastIndex(tok, ".")+1:]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
		if strings.Contains(sb.String(), secret) {
			t.Errorf("the %s appears in the config served by the admin API", name)
		}
	}
}

func TestCORS(t *testing.T) {
	s := newStack(t, nil)
	preflight := func(origin, method string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, s.edge.URL("/api/rooms"), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight(edgetest.Origin, "POST")
	if ok.StatusCode != 204 || ok.Header.Get("Access-Control-Allow-Origin") != edgetest.Origin ||
		!strings.Contains(ok.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("allowed preflight: %d %v", ok.StatusCode, ok.Header)
	}
	if bad := preflight("https://evil.example", "POST"); bad.StatusCode != 403 || bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", bad.StatusCode, bad.Header)
	}
	if bad := preflight(edgetest.Origin, "PATCH"); bad.StatusCode != 403 {
		t.Fatalf("disallowed method: %d", bad.StatusCode)
	}
	// An actual request from an allowed origin may read the answer, even a 401.
	req, _ := http.NewRequest(http.MethodGet, s.edge.URL("/api/me"), nil)
	req.Header.Set("Origin", edgetest.Origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != edgetest.Origin {
		t.Fatalf("actual request: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHealthReportsHubJWKSAndWorker(t *testing.T) {
	s := newStack(t, nil)
	var rep struct {
		Status string
		Broker struct{ OK bool }
		JWKS   struct{ Loaded bool }
		Worker struct {
			Stale        bool
			LastDelivery *time.Time `json:"last_delivery"`
		}
	}
	if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "starting" || !rep.Worker.Stale || rep.Worker.LastDelivery != nil || !rep.Broker.OK {
		t.Fatalf("before any delivery: %+v", rep)
	}
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})
	s.connect(t, "alice", nil) // loads the JWKS
	if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "ok" || rep.Worker.Stale || rep.Worker.LastDelivery == nil || !rep.JWKS.Loaded {
		t.Fatalf("after a delivery: %+v", rep)
	}
}

// TestHealthWhileTheJWKSLoads: the JWKS is fetched as the edge starts. While that first fetch is
// under way the edge is starting (not degraded); once it has failed the edge is degraded and says why;
// once a retry succeeds the JWKS is loaded.
func TestHealthWhileTheJWKSLoads(t *testing.T) {
	srv := authtest.NewTestServer(t)
	release := make(chan struct{})
	var failing atomic.Bool
	failing.Store(true)
	idp := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		if failing.Load() {
			http.Error(w, "identity provider down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(srv.Issuer.JWKS())
	}))
	idp.Start()
	t.Cleanup(idp.Close)
	t.Cleanup(func() { closeOnce(release) })
	s := &stack{idp: srv.Issuer, edge: edgetest.Start(t, edgetest.Config{Bin: caddyBin, JWKSURL: idp.URL + "/jwks.json", Issuer: srv.Issuer.URL()})}

	type report struct {
		Status   string
		Problems []string
		JWKS     struct {
			Loaded    bool
			LastError string `json:"last_error"`
		}
	}
	health := func() report {
		t.Helper()
		var rep report
		if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := health()
	if rep.Status != "starting" || rep.JWKS.Loaded || !strings.Contains(strings.Join(rep.Problems, ";"), "first fetch is under way") {
		t.Fatalf("while the first JWKS fetch is held: %+v", rep)
	}
	closeOnce(release)
	deadline := time.Now().Add(15 * time.Second)
	for rep = health(); rep.Status != "degraded"; rep = health() {
		if time.Now().After(deadline) {
			t.Fatalf("the failed JWKS fetch never showed: %+v", rep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep.JWKS.Loaded || rep.JWKS.LastError == "" || !strings.Contains(strings.Join(rep.Problems, ";"), "users cannot sign in") {
		t.Fatalf("after a failed JWKS fetch: %+v", rep)
	}
	failing.Store(false)
	for rep = health(); !rep.JWKS.Loaded; rep = health() {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("the JWKS never loaded after the identity provider came back: %+v", rep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(strings.Join(rep.Problems, ";"), "JWKS") {
		t.Fatalf("the JWKS is loaded but still a problem: %+v", rep)
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// TestRestartedEdgeSaysTheStateIsUnknown: an edge restarted with the memory broker holds nothing. It
// must not serve that as an empty world: clients get a hello whose state is unknown, /healthz says
// starting, and the worker's keepalive (an empty batch) is answered 409 so that a snapshot comes at
// once; once it has, everything is as before.
func TestRestartedEdgeSaysTheStateIsUnknown(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	_, before := s.connect(t, "alice", nil)
	if before.State != "" || before.Snapshot == nil {
		t.Fatalf("hello of an edge holding state: %s", before.Raw)
	}
	s.edge.Restart()

	c, hello := s.connect(t, "alice", &event.Position{Epoch: "ep1", Seq: before.Seq})
	if hello.Resumed || hello.State != "unknown" || hello.Epoch != "" || hello.Snapshot != nil {
		t.Fatalf("hello of a restarted edge: %s", hello.Raw)
	}
	var rep struct{ Status string }
	if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil || rep.Status != "starting" {
		t.Fatalf("health of a restarted edge: %+v %v", rep, err)
	}
	code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1"))
	if code != http.StatusConflict || !strings.Contains(string(body), `"snapshot_required"`) {
		t.Fatalf("an empty batch to a restarted edge: %d %s", code, body)
	}
	// The worker's snapshot: the client gets it as an event, and the edge is itself again.
	s.seed(t, b)
	if f := c.Next(5 * time.Second); f.Type != string(event.Snapshot) {
		t.Fatalf("after the snapshot: %s", f.Raw)
	}
	if code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1")); code != http.StatusOK {
		t.Fatalf("an empty batch after the snapshot: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil || rep.Status == "starting" {
		t.Fatalf("health after the snapshot: %+v %v", rep, err)
	}
}

func TestExampleCaddyfileAdaptsAndValidates(t *testing.T) {
	adaptAndValidate(t, "../Caddyfile")
	// A connection that never sends its request is not held for Caddy's default minute.
	out, err := exec.Command(caddyBin, "adapt", "--config", "../Caddyfile").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"read_header_timeout":10000000000`) {
		t.Errorf("the production Caddyfile sets no 10s read_header timeout:\n%s", out)
	}
	// New connections are paced before their TLS handshakes.
	if !strings.Contains(string(out), `"listener_wrappers":[{"burst":100,"rate":1000,"wrapper":"coven_accept"},{"wrapper":"tls"}]`) {
		t.Errorf("the production Caddyfile does not pace new connections with coven_accept before tls:\n%s", out)
	}
}

// The README's way to run the production Caddyfile: with .env.example's variables and no others it
// validates; without them, the error names the first variable missing.
func TestExampleEnvironmentFileIsComplete(t *testing.T) {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "SPELLCOVEN_") && !strings.HasPrefix(name, "DISCORD_") && !strings.HasPrefix(name, "IDP_") && !strings.HasPrefix(name, "COVEN_") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+t.TempDir())
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(context.Background(), caddyBin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return strings.ReplaceAll(string(out), `\"`, `"`), err
	}
	if out, err := run("validate", "--config", "../Caddyfile", "--adapter", "caddyfile", "--envfile", "../.env.example"); err != nil {
		t.Fatalf("caddy validate with .env.example: %v\n%s", err, out)
	}
	// Caddy provisions its apps in no set order: the first variable named may be any of the file's.
	out, err := run("validate", "--config", "../Caddyfile", "--adapter", "caddyfile")
	named := regexp.MustCompile(`environment variable (\w+) is not set`).FindStringSubmatch(out)
	if err == nil || named == nil {
		t.Fatalf("caddy validate without the environment: %v\n%s", err, out)
	}
	envFile, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(envFile), "\n"+named[1]+"=") {
		t.Fatalf("caddy validate names %s, which .env.example does not set", named[1])
	}
}

// TestDocumentedCaddyfilesAdaptAndValidate checks every ```caddyfile block of the README and docs/.
func TestDocumentedCaddyfilesAdaptAndValidate(t *testing.T) {
	docs, _ := filepath.Glob("../docs/*.md")
	docs = append(docs, "../README.md")
	blocks := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(string(text), "```caddyfile\n")
		for i, part := range parts[1:] {
			end := strings.Index(part, "```")
			if end < 0 {
				t.Fatalf("%s: unterminated caddyfile block", doc)
			}
			path := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(path, []byte(part[:end]), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Run(fmt.Sprintf("%s#%d", filepath.Base(doc), i+1), func(t *testing.T) { adaptAndValidate(t, path) })
			blocks++
		}
	}
	if blocks == 0 {
		t.Fatal("no caddyfile block found in the docs")
	}
}

func adaptAndValidate(t *testing.T, caddyfile string) {
	t.Helper()
	for _, args := range [][]string{
		{"adapt", "--config", caddyfile, "--validate"},
		{"validate", "--config", caddyfile, "--adapter", "caddyfile"},
	} {
		cmd := exec.CommandContext(context.Background(), caddyBin, args...)
		cmd.Env = append(os.Environ(),
			"DISCORD_GUILD_ID=1100000000000000001", "DISCORD_CATEGORY_ID=1100000000000000002",
			"DISCORD_BOT_TOKEN="+edgetest.BotToken, "COVEN_WEBHOOK_SECRET="+edgetest.WebhookSecret,
			"IDP_JWKS_URL=https://idp.example.com/.well-known/jwks.json", "IDP_ISSUER=https://idp.example.com/",
			"IDP_AUDIENCE=spell-coven", "SPELLCOVEN_ORIGIN=https://app.example.com",
			"REDIS_PASSWORD=redis-password", "REDIS_SENTINEL_PASSWORD=sentinel-password", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("caddy %s: %v\n%s", args[0], err, out)
		}
		if strings.Contains(string(out), edgetest.BotToken) || strings.Contains(string(out), edgetest.WebhookSecret) {
			t.Fatalf("caddy %s printed a secret", args[0])
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestBrokerMistakesAreRefusedByValidate: a broker redis that cannot work is refused by caddy validate
// (as by a reload, which keeps the running configuration), with an error that says why and no
// password, without reaching for the network.
func TestBrokerMistakesAreRefusedByValidate(t *testing.T) {
	const password = "redis-password-never-printed"
	for _, tc := range []struct{ name, broker, says string }{
		{"a sentinel without a port", "sentinel coven 10.0.0.21:26379 10.0.0.22\n\t\t\tpassword " + password, `Sentinel address "10.0.0.22" is not host:port`},
		{"a cluster node's port out of range", "cluster 10.0.0.31:70000\n\t\t\tpassword " + password, "the port must be a number from 1 to 65535"},
		{"a URL beside a cluster", "redis://10.0.0.5:6379/0 {\n\t\t\tcluster 10.0.0.31:6379\n\t\t}", "one of a URL, sentinel and cluster"},
		{"a sentinel password whose variable is not set", "sentinel coven 10.0.0.21:26379\n\t\t\tsentinel_password {env.COVEN_TEST_UNSET_SENTINEL_PASSWORD}", "COVEN_TEST_UNSET_SENTINEL_PASSWORD is not set"},
		{"a key prefix with braces", "cluster 10.0.0.31:6379\n\t\t\tkey_prefix {coven}", "braces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broker := "broker redis {\n\t\t\t" + tc.broker + "\n\t\t}"
			if strings.HasPrefix(tc.broker, "redis://") {
				broker = "broker redis " + tc.broker
			}
			caddyfile := "{\n\tcoven {\n\t\tguild 1100000000000000001\n\t\t" + broker + "\n\t}\n}\n\n:8080 {\n\tcoven_health /healthz\n}\n"
			path := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(context.Background(), caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("caddy validate accepted:\n%s", caddyfile)
			}
			if text := strings.ReplaceAll(string(out), `\"`, `"`); !strings.Contains(text, tc.says) {
				t.Errorf("caddy validate does not say %q:\n%s", tc.says, out)
			}
			if strings.Contains(string(out), password) {
				t.Errorf("caddy validate printed the password:\n%s", out)
			}
		})
	}
}
