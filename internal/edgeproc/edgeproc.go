// Package edgeproc runs an edge as a process, for the programs that need one and the tests'
// harness alike: the Caddy binary built from ./cmd/caddy, started with a generated Caddyfile on
// ports of its own, with the test identities and secrets. It holds no test helper (package
// internal/edgetest wraps it for tests); cmd/coven-bench runs its edge through it.
package edgeproc

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"text/template"
	"time"

	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/internal/proc"
	"github.com/spellcoven/gateway/internal/syncbuf"
)

// Secrets and identities of the edges run here. Tests check that none of the secrets appears in any log line.
const (
	WebhookSecret = "test-webhook-secret-0123456789abcdef"
	BotToken      = "MTEwMDAwMDAwMDAwMDAwMDAw.Gtest.bot-token-that-must-never-be-logged"
	Audience      = "spell-coven"
	GuildID       = "1100000000000000001"
	// Origin is the web app origin test edges allow.
	Origin = "http://app.coven.test"
)

// BuildCaddy builds ./cmd/caddy of the module at repoRoot into dir and returns the binary's path;
// the compiler's output goes to stderr.
func BuildCaddy(repoRoot, dir string) (string, error) {
	bin, err := proc.Build(context.Background(), repoRoot, "./cmd/caddy", dir, os.Stderr)
	if err != nil {
		return "", fmt.Errorf("building caddy: %w", err)
	}
	return bin, nil
}

// Config is what varies between edges.
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

// Defaults of the Config fields that shape the Caddyfile.
const (
	DefaultLogLevel = "DEBUG"
	DefaultMaxBody  = "64KiB"
)

// startTimeout bounds how long a starting edge may take to answer its health endpoint.
const startTimeout = 30 * time.Second

// Layout is where an edge keeps its files and listens.
type Layout struct {
	// Dir holds the Caddyfile and Caddy's storage, and is the process's HOME.
	Dir string
	// Port is the site's HTTP port on 127.0.0.1.
	Port int
	// AdminPort is the port of Caddy's admin API (which also serves /debug/pprof/).
	AdminPort int
}

// RenderCaddyfile returns the Caddyfile of an edge configured by cfg and laid out as l.
func RenderCaddyfile(cfg Config, l Layout) (string, error) {
	if cfg.LogLevel == "" {
		cfg.LogLevel = DefaultLogLevel
	}
	if cfg.MaxBody == "" {
		cfg.MaxBody = DefaultMaxBody
	}
	var buf bytes.Buffer
	tpl, err := template.New("caddyfile").Parse(caddyfileTemplate)
	if err != nil {
		return "", err
	}
	err = tpl.Execute(&buf, map[string]any{
		"AdminPort": l.AdminPort, "Dir": l.Dir, "HTTPPort": l.Port, "GuildID": GuildID,
		"JWKSURL": cfg.JWKSURL, "Issuer": cfg.Issuer, "Audience": Audience, "Origin": Origin,
		"Global": cfg.Global, "WS": cfg.WS, "JWT": cfg.JWT, "Site": cfg.Site, "Servers": cfg.Servers,
		"LogLevel": cfg.LogLevel, "NoAccessLog": cfg.NoAccessLog, "NoHTTPMetrics": cfg.NoHTTPMetrics,
		"MaxBody": cfg.MaxBody,
	})
	if err != nil {
		return "", fmt.Errorf("rendering the Caddyfile: %w", err)
	}
	return buf.String(), nil
}

// Launch writes the Caddyfile into l.Dir, starts cfg.Bin on it with the test secrets in its
// environment, its output going to logs, and waits until the health endpoint answers.
func Launch(cfg Config, l Layout, logs *LockedBuffer) (*proc.Process, error) {
	caddyfile, err := RenderCaddyfile(cfg, l)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(l.Dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"COVEN_WEBHOOK_SECRET="+WebhookSecret,
		"DISCORD_BOT_TOKEN="+BotToken,
		"HOME="+l.Dir, "XDG_DATA_HOME="+l.Dir, "XDG_CONFIG_HOME="+l.Dir,
	)
	p, err := proc.Start("caddy", cfg.Bin, []string{"run", "--config", path, "--adapter", "caddyfile"},
		proc.Options{Env: append(env, cfg.Env...), Output: logs})
	if err != nil {
		return nil, err
	}
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", l.Port)
	if err := p.WaitHTTP(context.Background(), http.DefaultClient, health, startTimeout); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// LockedBuffer collects a process's output.
type LockedBuffer = syncbuf.Buffer

// Process is an edge started without a test, for tools such as the load generator cmd/coven-bench.
// Its Caddyfile is the one test edges run (see Config).
type Process struct {
	// Cfg is the configuration the process runs with.
	Cfg Config
	// Layout is where it keeps its files and listens.
	Layout
	// Logs collects the process's output.
	Logs *LockedBuffer

	p *proc.Process
}

// StartProcess starts Caddy with cfg laid out as l (l.Dir must exist) and waits until its health
// endpoint answers. The caller stops it with Stop.
func StartProcess(cfg Config, l Layout) (*Process, error) {
	e := &Process{Cfg: cfg, Layout: l, Logs: new(LockedBuffer)}
	p, err := Launch(cfg, l, e.Logs)
	if err != nil {
		return nil, err
	}
	e.p = p
	return e, nil
}

// Pid returns the process id.
func (e *Process) Pid() int { return e.p.Pid() }

// Done is closed when the process has exited.
func (e *Process) Done() <-chan struct{} { return e.p.Done() }

// URL returns the edge's URL for path.
func (e *Process) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", e.Port, path) }

// WSURL returns the URL of the event stream.
func (e *Process) WSURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/ws", e.Port) }

// AdminURL returns the URL of path on Caddy's admin API.
func (e *Process) AdminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", e.AdminPort, path)
}

// Stop ends the process with sig, kills it if it has not exited after grace, and waits for it.
func (e *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	_ = e.p.Stop(sig, grace)
	return nil
}

// PickPort returns a port free on 127.0.0.1 at the time of the call.
func PickPort() (int, error) { return freeport.Pick() }
