// Package sandbox runs the whole Spell Coven stack on one machine with no Discord account and no
// internet: a development identity provider with demo users, and the edge (Caddy with this
// repository's modules) serving HTTPS with a locally issued certificate.
//
// `go run ./cmd/coven-sandbox` uses it; so do the browser tests, which need the same stack.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
)

// Config configures the sandbox. The zero value of every field selects its default.
type Config struct {
	// Port is the HTTPS port of the edge (default 8443).
	Port int
	// CaddyBin is the Caddy binary with this repository's modules; default: build ./cmd/caddy of
	// RepoRoot into Dir.
	CaddyBin string
	// RepoRoot is the repository's root (default ".").
	RepoRoot string
	// Dir holds the sandbox's state: Caddy's certificates, the Caddyfile (default: a new temp dir).
	Dir string
	// TokenTTL is the lifetime of demo users' tokens (default 10m).
	TokenTTL time.Duration
	// Log receives the processes' output (default: discarded).
	Log io.Writer
	// StartTimeout bounds the start of every part (default 60s).
	StartTimeout time.Duration
}

// Audience is the audience of the sandbox's tokens.
const Audience = "spell-coven-sandbox"

// GuildID is the emulated Discord guild of the sandbox.
const GuildID = "1100000000000000001"

// Stack is a running sandbox.
type Stack struct {
	// URL is the edge's HTTPS base URL, e.g. https://localhost:8443.
	URL string
	// IdPURL is the identity provider's base URL.
	IdPURL string
	// RootCA is the PEM file of the local certificate authority that signed the edge's certificate.
	RootCA string
	// Client is an HTTP client that trusts RootCA.
	Client *http.Client

	cfg     Config
	idp     *idp
	idpSrv  *http.Server
	caddy   *exec.Cmd
	done    chan struct{}
	exitErr error
	secret  string
}

// Start starts the stack and waits until every part is healthy. On failure it stops what it started
// and says which part failed and why.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Port == 0 {
		cfg.Port = 8443
	}
	if cfg.RepoRoot == "" {
		cfg.RepoRoot = "."
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "coven-sandbox-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	s := &Stack{cfg: cfg, URL: fmt.Sprintf("https://localhost:%d", cfg.Port), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if err := s.startIdP(); err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	if err := s.startEdge(ctx); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	ok = true
	return s, nil
}

func (s *Stack) startIdP() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.IdPURL = "http://" + ln.Addr().String()
	issuer, err := authtest.NewIssuer(s.IdPURL)
	if err != nil {
		ln.Close()
		return err
	}
	s.idp = &idp{issuer: issuer, audience: Audience, ttl: s.cfg.TokenTTL}
	s.idpSrv = &http.Server{Handler: s.idp, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.idpSrv.Serve(ln) }()
	return nil
}

// Issuer returns the identity provider's signing side (tests rotate its keys).
func (s *Stack) Issuer() *authtest.Issuer { return s.idp.issuer }

const caddyfile = `{
	admin 127.0.0.1:{{.AdminPort}}
	persist_config off
	storage file_system {{.Dir}}/data
	skip_install_trust
	auto_https disable_redirects
	coven {
		guild {{.GuildID}}
		bot_token {env.DISCORD_BOT_TOKEN}
		jwt {
			jwks_url {{.IdP}}/.well-known/jwks.json
			issuer {{.IdP}}
			audience {{.Audience}}
		}
	}
}

https://localhost:{{.Port}} {
	tls internal
	coven_ws /ws
	route /internal/events {
		coven_hmac {env.COVEN_WEBHOOK_SECRET}
		coven_events
	}
	coven_health /healthz
	metrics /metrics
	handle_path /dev-idp/* {
		reverse_proxy {{.IdPHost}}
	}
	respond / "Spell Coven sandbox: the event stream is at /ws, health at /healthz." 200
}
`

func (s *Stack) startEdge(ctx context.Context) error {
	bin := s.cfg.CaddyBin
	if bin == "" {
		bin = filepath.Join(s.cfg.Dir, "caddy")
		fmt.Fprintln(s.cfg.Log, "sandbox: building ./cmd/caddy (the first build takes several minutes)")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
		build.Dir = s.cfg.RepoRoot
		build.Stdout, build.Stderr = s.cfg.Log, s.cfg.Log
		if err := build.Run(); err != nil {
			return fmt.Errorf("building caddy: %w", err)
		}
	}
	adminPort, err := freePort()
	if err != nil {
		return err
	}
	var conf strings.Builder
	err = template.Must(template.New("").Parse(caddyfile)).Execute(&conf, map[string]any{
		"AdminPort": adminPort, "Dir": s.cfg.Dir, "GuildID": GuildID, "IdP": s.IdPURL,
		"IdPHost": strings.TrimPrefix(s.IdPURL, "http://"), "Audience": Audience, "Port": s.cfg.Port,
	})
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.Dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		return err
	}
	s.secret = randomHex(32)
	s.caddy = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	s.caddy.Env = append(os.Environ(),
		"COVEN_WEBHOOK_SECRET="+s.secret,
		"DISCORD_BOT_TOKEN=sandbox."+randomHex(24),
		"XDG_DATA_HOME="+s.cfg.Dir, "XDG_CONFIG_HOME="+s.cfg.Dir,
	)
	// One writer for both streams: exec then never calls it from two goroutines at once.
	out := prefixed(s.cfg.Log, "edge: ")
	s.caddy.Stdout, s.caddy.Stderr = out, out
	if err := s.caddy.Start(); err != nil {
		return err
	}
	go func() { s.exitErr = s.caddy.Wait(); close(s.done) }()

	s.RootCA = filepath.Join(s.cfg.Dir, "data", "pki", "authorities", "local", "root.crt")
	deadline := time.Now().Add(s.cfg.StartTimeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("caddy exited: %v (see its log above)", s.exitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if s.Client == nil {
			s.Client, _ = clientTrusting(s.RootCA)
		}
		if s.Client != nil {
			resp, err := s.Client.Get(s.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %v", s.cfg.StartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WebhookSecret returns the secret the edge's ingest verifies (for the worker and tests).
func (s *Stack) WebhookSecret() string { return s.secret }

// Done is closed when the edge process exits.
func (s *Stack) Done() <-chan struct{} { return s.done }

// Close stops every part.
func (s *Stack) Close() {
	if s.caddy != nil && s.caddy.Process != nil {
		_ = s.caddy.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.caddy.Process.Kill()
			<-s.done
		}
	}
	if s.idpSrv != nil {
		_ = s.idpSrv.Close()
	}
}

func clientTrusting(rootPEM string) (*http.Client, error) {
	pem, err := os.ReadFile(rootPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + rootPEM)
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
