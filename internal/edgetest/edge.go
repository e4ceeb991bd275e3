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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgeproc"
	"github.com/spellcoven/gateway/internal/proc"
	"github.com/spellcoven/gateway/webhook"
)

// Secrets and identities of test edges (package edgeproc's). Tests check that none of the
// secrets appears in any log line.
const (
	WebhookSecret = edgeproc.WebhookSecret
	BotToken      = edgeproc.BotToken
	Audience      = edgeproc.Audience
	GuildID       = edgeproc.GuildID
	// Origin is the web app origin test edges allow.
	Origin = edgeproc.Origin
)

// Config is what varies between test edges; Layout where one keeps its files and listens.
type (
	Config = edgeproc.Config
	Layout = edgeproc.Layout
)

// BuildCaddy builds ./cmd/caddy of the module at repoRoot into dir and returns the binary's path.
func BuildCaddy(repoRoot, dir string) (string, error) { return edgeproc.BuildCaddy(repoRoot, dir) }

// RenderCaddyfile returns the Caddyfile of an edge configured by cfg and laid out as l.
func RenderCaddyfile(cfg Config, l Layout) (string, error) { return edgeproc.RenderCaddyfile(cfg, l) }

// Edge is a running Caddy process.
type Edge struct {
	t         testing.TB
	Cfg       Config
	Dir       string
	Port      int
	AdminPort int
	Logs      *LockedBuffer
	p         *proc.Process
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
func PickPort() (int, error) { return edgeproc.PickPort() }

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
	p, err := edgeproc.Launch(e.Cfg, e.layout(), e.Logs)
	if err != nil {
		e.t.Fatal(err)
	}
	e.p = p
}

// LockedBuffer collects a process's output.
type LockedBuffer = edgeproc.LockedBuffer

// Pid returns the process id of the running Caddy.
func (e *Edge) Pid() int { return e.p.Pid() }

// Stop ends the process with sig and waits for it (killing it after 15 s).
func (e *Edge) Stop(sig syscall.Signal) {
	if e.p == nil {
		return
	}
	_ = e.p.Stop(sig, 15*time.Second)
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
