package edgetest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/template"
	"time"
)

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

// launch writes the Caddyfile into l.Dir, starts cfg.Bin on it with the test secrets in its
// environment, and waits until the health endpoint answers. done is closed when the process exits.
func launch(cfg Config, l Layout, logs *LockedBuffer) (cmd *exec.Cmd, done chan struct{}, err error) {
	caddyfile, err := RenderCaddyfile(cfg, l)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(l.Dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		return nil, nil, err
	}
	cmd = exec.Command(cfg.Bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"COVEN_WEBHOOK_SECRET="+WebhookSecret,
		"DISCORD_BOT_TOKEN="+BotToken,
		"HOME="+l.Dir, "XDG_DATA_HOME="+l.Dir, "XDG_CONFIG_HOME="+l.Dir,
	)
	cmd.Env = append(cmd.Env, cfg.Env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", l.Port)
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			return cmd, done, nil
		}
		select {
		case <-done:
			return nil, nil, fmt.Errorf("caddy exited at start:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return nil, nil, fmt.Errorf("caddy did not answer within %v:\n%s", startTimeout, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is an edge started without a test, for tools such as the load generator cmd/coven-bench.
// Its Caddyfile is the one test edges run (see Config).
type Process struct {
	// Cfg is the configuration the process runs with.
	Cfg Config
	// Layout is where it keeps its files and listens.
	Layout
	// Logs collects the process's output.
	Logs *LockedBuffer

	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcess starts Caddy with cfg laid out as l (l.Dir must exist) and waits until its health
// endpoint answers. The caller stops it with Stop.
func StartProcess(cfg Config, l Layout) (*Process, error) {
	p := &Process{Cfg: cfg, Layout: l, Logs: new(LockedBuffer)}
	cmd, done, err := launch(cfg, l, p.Logs)
	if err != nil {
		return nil, err
	}
	p.cmd, p.done = cmd, done
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// URL returns the edge's URL for path.
func (p *Process) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", p.Port, path) }

// WSURL returns the URL of the event stream.
func (p *Process) WSURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/ws", p.Port) }

// AdminURL returns the URL of path on Caddy's admin API.
func (p *Process) AdminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.AdminPort, path)
}

// Stop ends the process with sig, kills it if it has not exited after grace, and waits for it.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}
