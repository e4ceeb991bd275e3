package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/spellcoven/gateway/internal/ctxsleep"
	"github.com/spellcoven/gateway/internal/proc"
)

// edgeCaddyfile is the edge's configuration. Secrets are {env.*} placeholders, replaced at run time,
// so they are neither in this file nor in Caddy's JSON configuration.
//
// Every path is in a handle block of its own, so that nothing depends on the order of directives:
// the stream, the rooms API, the worker's ingest, health, the two development endpoints the page
// calls, and the page itself for everything else.
const edgeCaddyfile = `{
	admin off
	persist_config off
	storage file_system {{quote .Storage}}
	skip_install_trust
	auto_https disable_redirects
	servers {
		protocols h1 h2
	}
	log {
		output stderr
		format console {
			level_format upper
		}
		level {{.LogLevel}}
	}
	coven {
		guild {{.GuildID}}
		category {{.CategoryID}}
		bot_token {env.DISCORD_BOT_TOKEN}
		discord_api {{.DiscordAPI}}
		jwt {
			jwks_url {{.IdP}}/.well-known/jwks.json
			issuer {{.IdP}}
			audience {{.Audience}}
		}{{if .Redis}}
		broker redis {env.COVEN_SANDBOX_REDIS_URL} {
			key_prefix coven-sandbox:
		}{{end}}
	}
}

https://localhost:{{.Port}} {
	bind {{.Bind}}
	tls internal

	# The development endpoints answer the sandbox's own page only: a page of another site open in
	# the same browser must not sign in as a demo user or drive the emulator.
	@foreign {
		header Origin *
		not header Origin {{.Origin}}
	}

	handle /ws {
		coven_ws
	}
	handle /api/rooms* {
		route {
			coven_jwt
			coven_rooms {
				user_id_claim discord_id
				voice_bots {{.VoiceBotID}}
			}
		}
	}
	handle /api/table/* {
		route {
			coven_jwt
			coven_media {
				worker {{.WorkerAddr}}
				secret {env.COVEN_WEBHOOK_SECRET}
			}
		}
	}
	handle /internal/events {
		route {
			request_body {
				max_size 1MB
			}
			coven_hmac {env.COVEN_WEBHOOK_SECRET}
			coven_events
		}
	}
	handle /healthz {
		coven_health
	}
	handle_path /dev-idp/* {
		route {
			header @foreign Content-Type application/json
			respond @foreign ` + "`" + `{"error":{"code":"foreign_origin","message":"only the sandbox's own page may call this"}}` + "`" + ` 403
			reverse_proxy {{.IdPAddr}}
		}
	}
	handle_path /dev-discord/* {
		route {
			header @foreign Content-Type application/json
			respond @foreign ` + "`" + `{"error":{"code":"foreign_origin","message":"only the sandbox's own page may call this"}}` + "`" + ` 403
			rewrite * /_emulator{uri}
			reverse_proxy {{.DiscordAddr}} {
				header_up Authorization "Bearer {env.COVEN_SANDBOX_CONTROL_TOKEN}"
			}
		}
	}
	handle {
		root * {{quote .WebRoot}}
		header Cache-Control no-cache
		file_server {
			hide node_modules test testsupport bench *.go package.json package-lock.json
		}
	}
}
`

// edgeLayout is what the edge's Caddyfile is made of.
type edgeLayout struct {
	Port                 int
	Bind                 string
	Origin               string
	Storage              string
	LogLevel             string
	GuildID, CategoryID  string
	DiscordAPI           string
	IdP, IdPAddr         string
	DiscordAddr, WebRoot string
	Audience             string
	// WorkerAddr is the worker's control address, which coven_media asks for table view.
	WorkerAddr string
	// VoiceBotID is the worker's voice bot beside the bot, which table view lets in too.
	VoiceBotID string
	// Redis selects the Redis broker, whose URL the edge reads from its environment.
	Redis bool
}

// renderCaddyfile returns the edge's Caddyfile.
func renderCaddyfile(l edgeLayout) (string, error) {
	var b strings.Builder
	tpl := template.Must(template.New("Caddyfile").Funcs(template.FuncMap{"quote": caddyfileQuote}).Parse(edgeCaddyfile))
	if err := tpl.Execute(&b, l); err != nil {
		return "", err
	}
	return b.String(), nil
}

// caddyfileQuote makes s one Caddyfile token, so that a directory with spaces or quotes in its
// name stays one argument. Inside quotes the Caddyfile lexer unescapes \" only.
func caddyfileQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// loopbackBind is the edge's bind addresses: 127.0.0.1, and ::1 when this machine has IPv6
// loopback, since browsers try "localhost" on both.
func loopbackBind() string {
	ln, err := net.Listen("tcp6", net.JoinHostPort("::1", "0"))
	if err != nil {
		return "127.0.0.1"
	}
	ln.Close()
	return "127.0.0.1 [::1]"
}

// checkPortFree fails with a clear message when something already listens on the edge's port.
func checkPortFree(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is in use on 127.0.0.1 (another sandbox, or another server): choose another port", port)
	}
	return ln.Close()
}

// startEdge starts the Caddy process from the run's Caddyfile and waits until its health endpoint
// answers over TLS.
func (s *Stack) startEdge(ctx context.Context) error {
	s.edgeLog.say("starting the edge on " + s.URL())
	env := append(baseEnv(),
		"DISCORD_BOT_TOKEN="+s.secrets.botToken,
		"COVEN_WEBHOOK_SECRET="+s.secrets.webhookSecret,
		"COVEN_SANDBOX_CONTROL_TOKEN="+s.secrets.controlToken,
		"COVEN_SANDBOX_REDIS_URL="+s.cfg.RedisURL,
		// Caddy's own files (autosave, locks) stay in the run's directory.
		"HOME="+s.runDir, "XDG_DATA_HOME="+s.runDir, "XDG_CONFIG_HOME="+s.runDir,
	)
	p, err := proc.Start("caddy", s.caddyBin,
		[]string{"run", "--config", filepath.Join(s.runDir, "Caddyfile"), "--adapter", "caddyfile"},
		proc.Options{Env: env, Output: s.edgeLog, Detach: true, OnExit: s.partFailed})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.edge = p
	s.mu.Unlock()

	deadline := time.Now().Add(s.cfg.StartTimeout)
	for {
		if p.Exited() {
			return p.ExitError()
		}
		if s.client == nil {
			// The local CA exists once Caddy has started its PKI; its root is kept across runs.
			s.client, _ = clientTrusting(s.rootCA)
		}
		if s.client != nil {
			if _, err := s.edgeHealth(ctx); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the edge did not answer %s/healthz within %v; its last lines:\n%s", s.URL(), s.cfg.StartTimeout, s.edgeLog.lastLines())
		}
		if err := ctxsleep.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// edgeHealthReport is the part of coven_health's report the sandbox reads.
type edgeHealthReport struct {
	Status   string   `json:"status"`
	Problems []string `json:"problems"`
	JWKS     *struct {
		Loaded bool `json:"loaded"`
	} `json:"jwks"`
	Worker struct {
		Stale bool `json:"stale"`
	} `json:"worker"`
}

// edgeHealth fetches the edge's health report.
func (s *Stack) edgeHealth(ctx context.Context) (edgeHealthReport, error) {
	var rep edgeHealthReport
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/healthz", nil)
	if err != nil {
		return rep, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return rep, fmt.Errorf("health report: %w", err)
	}
	return rep, nil
}

// waitEdgeServing waits until the edge reports a recent delivery from the worker and holds the
// identity provider's keys: then the page can sign in and sees Discord's state.
func (s *Stack) waitEdgeServing(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.StartTimeout)
	var last edgeHealthReport
	var lastErr error
	for {
		rep, err := s.edgeHealth(ctx)
		if err == nil && !rep.Worker.Stale && rep.JWKS != nil && rep.JWKS.Loaded {
			return nil
		}
		last, lastErr = rep, err
		if time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("the edge's health endpoint failed: %w", lastErr)
			}
			return fmt.Errorf("the edge is not serving within %v: %s", s.cfg.StartTimeout, strings.Join(last.Problems, "; "))
		}
		if err := ctxsleep.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// clientTrusting returns an HTTP client that trusts the certificates of the PEM file rootPEM.
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
