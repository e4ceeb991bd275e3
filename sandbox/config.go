package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Defaults of Config.
const (
	DefaultPort         = 8443
	DefaultTokenTTL     = 10 * time.Minute
	DefaultStartTimeout = 2 * time.Minute
	DefaultStopTimeout  = 15 * time.Second
)

// Bounds of Config.TokenTTL: shorter tokens would be refreshed more often than the page can show,
// longer ones are not what any identity provider issues.
const (
	MinTokenTTL = 10 * time.Second
	MaxTokenTTL = 24 * time.Hour
)

// Config configures the sandbox. The zero value of every field selects its default.
type Config struct {
	// Port is the edge's HTTPS port, on the loopback interface only (default 8443).
	Port int
	// RepoRoot is the repository's root: the binaries are built from it and the demo page is
	// served from its web/ directory (default: the current directory).
	RepoRoot string
	// Dir keeps what is worth keeping across runs: the local certificate authority, so that
	// trusting it once is enough, and the built binaries. Each run works in a fresh subdirectory
	// of it (the worker's outbox, the edge's configuration) that Close removes. Default:
	// <user cache directory>/coven-sandbox.
	Dir string
	// CaddyBin is a Caddy binary built with this repository's modules; empty builds ./cmd/caddy
	// into Dir/bin.
	CaddyBin string
	// WorkerBin is a coven-worker binary; empty builds ./cmd/coven-worker into Dir/bin.
	WorkerBin string
	// TokenTTL is the lifetime of the demo users' tokens (default 10m, from 10s to 24h). A short
	// lifetime shows the page refreshing its token on the open stream.
	TokenTTL time.Duration
	// StartTimeout bounds the wait for each part to become healthy (default 2m). Builds are bounded
	// by Start's context only: the first build of the edge takes minutes.
	StartTimeout time.Duration
	// StopTimeout is how long Close waits for a process after SIGTERM before it kills it
	// (default 15s).
	StopTimeout time.Duration
	// Log receives the sandbox's progress and its parts' logs, each line prefixed with the part's
	// name (default: discarded). Secrets never appear in it.
	Log io.Writer
	// Verbose passes every line of the parts' logs; otherwise only their warnings and errors.
	Verbose bool
	// RedisURL, when set, runs the edge with the Redis broker at that URL (redis://host:port/db,
	// with a password in it if needed; keys under "coven-sandbox:"), as edges that scale out do:
	// stopping that Redis shows what the page does when the edge loses its broker. Empty: the
	// in-memory broker.
	RedisURL string
}

// withDefaults returns the configuration with every zero field set to its default, or an error
// naming the first field that is out of range. It creates nothing.
func (c Config) withDefaults() (Config, error) {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("sandbox: port %d: want 1 to 65535", c.Port)
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.TokenTTL < MinTokenTTL || c.TokenTTL > MaxTokenTTL {
		return c, fmt.Errorf("sandbox: token lifetime %v: want %v to %v", c.TokenTTL, MinTokenTTL, MaxTokenTTL)
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return c, errors.New("sandbox: the Redis URL must be redis://, rediss:// or unix://")
		}
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StartTimeout < 0 {
		return c, errors.New("sandbox: the start timeout must be positive")
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.StopTimeout < 0 {
		return c, errors.New("sandbox: the stop timeout must be positive")
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.RepoRoot == "" {
		c.RepoRoot = "."
	}
	root, err := filepath.Abs(c.RepoRoot)
	if err != nil {
		return c, fmt.Errorf("sandbox: repository root: %w", err)
	}
	c.RepoRoot = root
	for _, need := range []string{"web/index.html", "cmd/caddy", "cmd/coven-worker"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			return c, fmt.Errorf("sandbox: %s is not this repository's root (no %s): run the sandbox from the repository's root", root, need)
		}
	}
	if c.Dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return c, fmt.Errorf("sandbox: no directory given and no user cache directory: %w", err)
		}
		c.Dir = filepath.Join(cache, "coven-sandbox")
	}
	if c.Dir, err = filepath.Abs(c.Dir); err != nil {
		return c, fmt.Errorf("sandbox: directory: %w", err)
	}
	for _, bin := range []string{c.CaddyBin, c.WorkerBin} {
		if bin == "" {
			continue
		}
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return c, fmt.Errorf("sandbox: binary %s: not a file", bin)
		}
	}
	return c, nil
}
