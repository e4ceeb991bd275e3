// Package edgetest runs real edges for tests: the Caddy binary built from ./cmd/caddy, started as a
// process with a generated Caddyfile on ports of its own, WebSocket clients that speak the stream
// protocol, and a signer for the webhook ingest. The integration, end-to-end and browser tests share it.
package edgetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/internal/syncbuf"
	"github.com/spellcoven/gateway/webhook"
)

// Secrets and identities of test edges. Tests check that none of the secrets appears in any log line.
const (
	WebhookSecret = "test-webhook-secret-0123456789abcdef"
	BotToken      = "MTEwMDAwMDAwMDAwMDAwMDAw.Gtest.bot-token-that-must-never-be-logged"
	Audience      = "spell-coven"
	GuildID       = "1100000000000000001"
	// Origin is the web app origin test edges allow.
	Origin = "http://app.coven.test"
)

// BuildCaddy builds ./cmd/caddy of the module at repoRoot into dir and returns the binary's path.
func BuildCaddy(repoRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building caddy: %w", err)
	}
	return bin, nil
}

// Config is what varies between test edges.
type Config struct {
	// Bin is the Caddy binary (BuildCaddy).
	Bin string
	// JWKSURL and Issuer describe the identity provider.
	JWKSURL, Issuer string
	// Global holds extra lines of the coven global option (e.g. "queue_length 4").
	Global string
	// WS holds extra lines of the coven_ws block.
	WS string
	// JWT holds extra lines of the coven option's jwt block (e.g. "audience another-app").
	JWT string
	// Servers holds lines of the global servers option (e.g. "trusted_proxies static 127.0.0.1/32").
	Servers string
	// Site holds extra site directives.
	Site string
	// HTTPPort is the port to listen on (0 picks one).
	HTTPPort int
	// Env holds extra environment variables for the process (KEY=value).
	Env []string
	// LogLevel is Caddy's log level (default DEBUG, which tests read to follow what happened).
	LogLevel string
	// NoAccessLog drops the site's access log, as a production edge under load would.
	NoAccessLog bool
	// NoHTTPMetrics drops Caddy's per-request HTTP metrics (the global metrics option), as the
	// production Caddyfile does; /metrics still serves the Go runtime's and the coven_ series.
	NoHTTPMetrics bool
	// MaxBody bounds a webhook body at coven_hmac (default 64KiB).
	MaxBody string
}

const caddyfileTemplate = `{
	admin 127.0.0.1:{{.AdminPort}}
	auto_https off
	persist_config off
	storage file_system {{.Dir}}/storage
	log {
		level {{.LogLevel}}
	}
	{{if not .NoHTTPMetrics}}metrics{{end}}
	{{if .Servers}}servers {
		{{.Servers}}
	}{{end}}
	coven {
		guild {{.GuildID}}
		bot_token {env.DISCORD_BOT_TOKEN}
		jwt {
			jwks_url {{.JWKSURL}}
			issuer {{.Issuer}}
			audience {{.Audience}}
			leeway 0s
			{{.JWT}}
		}
		{{.Global}}
	}
}

http://127.0.0.1:{{.HTTPPort}} {
	{{if not .NoAccessLog}}log{{end}}
	coven_cors {{.Origin}}
	coven_ws /ws {
		origins {{.Origin}}
		{{.WS}}
	}
	route /internal/events {
		coven_hmac {env.COVEN_WEBHOOK_SECRET} {
			max_body {{.MaxBody}}
		}
		coven_events
	}
	coven_health /healthz
	metrics /metrics
	route /api/me {
		coven_jwt
		respond "hello {http.auth.user.id}" 200
	}
	{{.Site}}
}
`

// Edge is a running Caddy process.
type Edge struct {
	t         testing.TB
	Cfg       Config
	Dir       string
	Port      int
	AdminPort int
	cmd       *exec.Cmd
	Logs      *LockedBuffer
	done      chan struct{}
}

// FreePort returns a port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := PickPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// PickPort returns a port free on 127.0.0.1 at the time of the call, for callers without a test.
func PickPort() (int, error) { return freeport.Pick() }

// Start starts Caddy with cfg, waits until its health endpoint answers, and kills it when the test
// ends.
func Start(t testing.TB, cfg Config) *Edge {
	t.Helper()
	e := &Edge{t: t, Cfg: cfg, Dir: t.TempDir(), Port: cfg.HTTPPort, AdminPort: FreePort(t)}
	if e.Port == 0 {
		e.Port = FreePort(t)
	}
	e.start()
	t.Cleanup(func() { e.Stop(syscall.SIGKILL) })
	return e
}

// Caddyfile returns the Caddyfile the edge runs with.
func (e *Edge) Caddyfile() string {
	s, err := RenderCaddyfile(e.Cfg, e.layout())
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *Edge) layout() Layout { return Layout{Dir: e.Dir, Port: e.Port, AdminPort: e.AdminPort} }

func (e *Edge) start() {
	if e.Logs == nil {
		e.Logs = new(LockedBuffer)
	}
	cmd, done, err := launch(e.Cfg, e.layout(), e.Logs)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cmd, e.done = cmd, done
}

// LockedBuffer collects a process's output.
type LockedBuffer = syncbuf.Buffer

// Pid returns the process id of the running Caddy.
func (e *Edge) Pid() int { return e.cmd.Process.Pid }

// Stop ends the process with sig and waits for it.
func (e *Edge) Stop(sig syscall.Signal) {
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

// Restart kills the process (kill -9) and starts it again on the same ports.
func (e *Edge) Restart() {
	e.Stop(syscall.SIGKILL)
	e.start()
}

// Reload loads cfg through the admin API, as `caddy reload` does.
func (e *Edge) Reload(cfg Config) {
	e.t.Helper()
	e.Cfg = cfg
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", e.AdminPort), strings.NewReader(e.Caddyfile()))
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
	// Connections kept alive from before belong to the old server, which closes them as it stops:
	// a request sent on one now could meet that close (EOF). Later requests open new ones.
	http.DefaultClient.CloseIdleConnections()
}

// URL returns the edge's URL for path.
func (e *Edge) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", e.Port, path) }

// WSURL returns the URL of the event stream.
func (e *Edge) WSURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/ws", e.Port) }

// Post signs body with the webhook secret and posts it to the ingest.
func (e *Edge) Post(body []byte) (int, []byte) {
	e.t.Helper()
	return e.PostSigned(body, time.Now(), WebhookSecret)
}

// PostSigned posts body signed at time at with secret.
func (e *Edge) PostSigned(body []byte, at time.Time, secret string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL("/internal/events"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	signer, err := webhook.NewSigner(webhook.SchemeCoven, secret)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := signer.Sign(req.Header, body, at, ""); err != nil {
		e.t.Fatal(err)
	}
	return Do(e.t, req)
}

// Get fetches path and returns the body, failing the test on a transport error.
func (e *Edge) Get(path string) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL(path), nil)
	_, body := Do(e.t, req)
	return string(body)
}

// Do sends req and returns the status and body.
func Do(t testing.TB, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Batches builds batches of consecutive events of one epoch.
type Batches struct {
	Epoch string
	Next  uint64 // seq of the last event built
}

// Event builds the next event.
func (b *Batches) Event(t testing.TB, typ event.Type, p any) event.Event {
	t.Helper()
	b.Next++
	e, err := event.New(event.Position{Epoch: b.Epoch, Seq: b.Next}, GuildID, time.Now(), typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// EncodeBatch encodes a webhook body.
func EncodeBatch(t testing.TB, epoch string, evs ...event.Event) []byte {
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
