// Package tests holds the integration tests of the edge: a real Caddy process built from ./cmd/caddy,
// real WebSocket clients, a real identity provider serving a JWKS, and signed webhooks over HTTP.
// Tests here start Caddy processes with their own admin ports, so they run one at a time.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/webhook"
)

// caddyBin is the Caddy binary built once for the whole package.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coven-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "../cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Secrets of the test edges. The tests check that none of them appears in any log line.
const (
	webhookSecret = "test-webhook-secret-0123456789abcdef"
	botToken      = "MTEwMDAwMDAwMDAwMDAwMDAw.Gtest.bot-token-that-must-never-be-logged"
	audience      = "spell-coven"
	guildID       = "1100000000000000001"
)

// edgeConfig is what varies between test edges.
type edgeConfig struct {
	JWKSURL, Issuer string
	// Global holds extra lines of the coven global option (e.g. "queue_length 4").
	Global string
	// WS holds extra lines of the coven_ws block.
	WS string
	// Site holds extra site directives.
	Site string
	// HTTPPort is the port to listen on (0 picks one).
	HTTPPort int
}

const caddyfileTemplate = `{
	admin 127.0.0.1:{{.AdminPort}}
	auto_https off
	persist_config off
	storage file_system {{.Dir}}/storage
	log {
		level DEBUG
	}
	metrics
	coven {
		guild ` + guildID + `
		bot_token {env.DISCORD_BOT_TOKEN}
		jwt {
			jwks_url {{.JWKSURL}}
			issuer {{.Issuer}}
			audience ` + audience + `
			leeway 0s
		}
		{{.Global}}
	}
}

http://127.0.0.1:{{.HTTPPort}} {
	log
	coven_cors http://app.coven.test
	coven_ws /ws {
		origins http://app.coven.test
		{{.WS}}
	}
	route /internal/events {
		coven_hmac {env.COVEN_WEBHOOK_SECRET} {
			max_body 64KiB
		}
		coven_events
	}
	coven_health /healthz
	metrics /metrics
	route /api/* {
		coven_jwt
		respond "hello {http.auth.user.id}" 200
	}
	{{.Site}}
}
`

// edge is a running Caddy process.
type edge struct {
	t         *testing.T
	cfg       edgeConfig
	dir       string
	port      int
	adminPort int
	cmd       *exec.Cmd
	logs      *lockedBuffer
	done      chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startEdge starts Caddy with cfg and waits until its health endpoint answers.
func startEdge(t *testing.T, cfg edgeConfig) *edge {
	t.Helper()
	e := &edge{t: t, cfg: cfg, dir: t.TempDir(), port: cfg.HTTPPort, adminPort: freePort(t)}
	if e.port == 0 {
		e.port = freePort(t)
	}
	e.start()
	t.Cleanup(func() { e.stop(syscall.SIGKILL) })
	return e
}

func (e *edge) caddyfile() string {
	var buf bytes.Buffer
	tpl := template.Must(template.New("caddyfile").Parse(caddyfileTemplate))
	err := tpl.Execute(&buf, map[string]any{
		"AdminPort": e.adminPort, "Dir": e.dir, "HTTPPort": e.port,
		"JWKSURL": e.cfg.JWKSURL, "Issuer": e.cfg.Issuer,
		"Global": e.cfg.Global, "WS": e.cfg.WS, "Site": e.cfg.Site,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return buf.String()
}

func (e *edge) start() {
	t := e.t
	path := filepath.Join(e.dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(e.caddyfile()), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.logs == nil {
		e.logs = new(lockedBuffer)
	}
	e.cmd = exec.Command(caddyBin, "run", "--config", path, "--adapter", "caddyfile")
	e.cmd.Env = append(os.Environ(),
		"COVEN_WEBHOOK_SECRET="+webhookSecret,
		"DISCORD_BOT_TOKEN="+botToken,
		"HOME="+e.dir, "XDG_DATA_HOME="+e.dir, "XDG_CONFIG_HOME="+e.dir,
	)
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(e.cmd, e.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-e.done:
			t.Fatalf("caddy exited at start:\n%s", e.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not answer within 30s:\n%s", e.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process with sig and waits for it.
func (e *edge) stop(sig syscall.Signal) {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(sig)
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// restart kills the process (kill -9) and starts it again on the same ports.
func (e *edge) restart() {
	e.stop(syscall.SIGKILL)
	e.start()
}

// reload loads cfg through the admin API, as `caddy reload` does.
func (e *edge) reload(cfg edgeConfig) {
	e.t.Helper()
	e.cfg = cfg
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", e.adminPort), strings.NewReader(e.caddyfile()))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("reload: %s: %s", resp.Status, b)
	}
}

func (e *edge) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", e.port, path) }
func (e *edge) wsURL() string          { return fmt.Sprintf("ws://127.0.0.1:%d/ws", e.port) }

// post signs body with the webhook secret and posts it to the ingest.
func (e *edge) post(body []byte) (int, []byte) {
	e.t.Helper()
	return e.postSigned(body, time.Now(), webhookSecret)
}

func (e *edge) postSigned(body []byte, at time.Time, secret string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url("/internal/events"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	signer, err := webhook.NewSigner(webhook.SchemeCoven, secret)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := signer.Sign(req.Header, body, at, ""); err != nil {
		e.t.Fatal(err)
	}
	return do(e.t, req)
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// idp is an identity provider serving a JWKS for the tests.
func newIDP(t *testing.T) (*authtest.Issuer, *authtest.Server) {
	t.Helper()
	srv := authtest.NewTestServer(t)
	return srv.Issuer, srv
}

// events builds a batch of consecutive events of epoch starting at seq.
type batchBuilder struct {
	epoch string
	next  uint64
}

func (b *batchBuilder) event(t *testing.T, typ event.Type, p any) event.Event {
	t.Helper()
	b.next++
	e, err := event.New(event.Position{Epoch: b.epoch, Seq: b.next}, guildID, time.Now(), typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func encodeBatch(t *testing.T, epoch string, evs ...event.Event) []byte {
	t.Helper()
	if evs == nil {
		evs = []event.Event{}
	}
	b, err := json.Marshal(event.Batch{Epoch: epoch, Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contextFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
