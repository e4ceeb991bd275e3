package sandbox

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{RepoRoot: "..", Dir: t.TempDir()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != DefaultPort || cfg.TokenTTL != DefaultTokenTTL || cfg.StartTimeout != DefaultStartTimeout ||
		cfg.StopTimeout != DefaultStopTimeout || cfg.Log == nil || !filepath.IsAbs(cfg.RepoRoot) {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	cfg, err = Config{RepoRoot: ".."}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(cfg.Dir) != "coven-sandbox" {
		t.Fatalf("default directory %s, want one named coven-sandbox in the user cache directory", cfg.Dir)
	}
}

// Bad settings are refused before anything is built, started or created.
func TestStartRefusesBadConfig(t *testing.T) {
	notABinary := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative port", Config{Port: -1}, "port -1"},
		{"port out of range", Config{Port: 70000}, "port 70000"},
		{"token lifetime too short", Config{TokenTTL: time.Second}, "token lifetime 1s"},
		{"token lifetime too long", Config{TokenTTL: 25 * time.Hour}, "token lifetime 25h0m0s"},
		{"negative start timeout", Config{StartTimeout: -time.Second}, "start timeout"},
		{"negative stop timeout", Config{StopTimeout: -time.Second}, "stop timeout"},
		{"Redis URL of another scheme", Config{RedisURL: "http://127.0.0.1:6379"}, "Redis URL"},
		{"not the repository", Config{RepoRoot: "../web"}, "is not this repository's root"},
		{"caddy binary is a directory", Config{CaddyBin: notABinary}, "not a file"},
		{"worker binary missing", Config{WorkerBin: filepath.Join(notABinary, "nope")}, "not a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			cfg := tt.cfg
			cfg.Dir = dir
			if cfg.RepoRoot == "" {
				cfg.RepoRoot = ".."
			}
			s, err := Start(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the state directory was created: %v", err)
			}
		})
	}
}

func TestStartSaysThePortIsInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := filepath.Join(t.TempDir(), "state")
	_, err = Start(context.Background(), Config{Port: port, RepoRoot: "..", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)+" is in use") {
		t.Fatalf("got %v, want a port-in-use error", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the state directory was created: %v", err)
	}
}

func TestStaleRunDirectoriesAreRemoved(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	runs := []struct {
		name string
		pid  string // "" writes no pid file
		kept bool
	}{
		{"run-dead", strconv.Itoa(dead.Process.Pid), false},
		{"run-alive", strconv.Itoa(os.Getpid()), true},
		{"run-starting", "", true},
		{"run-garbled", "not a pid", true},
		{"outbox-dead", strconv.Itoa(dead.Process.Pid), true}, // not a run directory
	}
	for _, r := range runs {
		if err := os.Mkdir(filepath.Join(dir, r.name), 0o700); err != nil {
			t.Fatal(err)
		}
		if r.pid != "" {
			if err := os.WriteFile(filepath.Join(dir, r.name, "pid"), []byte(r.pid), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	removeStaleRuns(dir)
	for _, r := range runs {
		_, err := os.Stat(filepath.Join(dir, r.name))
		if kept := err == nil; kept != r.kept {
			t.Errorf("%s: kept=%v, want %v", r.name, kept, r.kept)
		}
	}
}

// Settings left in the shell never reach the parts: the sandbox sets theirs itself.
func TestPartsDoNotInheritTheirSettings(t *testing.T) {
	t.Setenv("DISCORD_BOT_TOKEN_FILE", "/nonexistent")
	t.Setenv("COVEN_WORKER_LISTEN", "0.0.0.0:80")
	t.Setenv("SSL_CERT_FILE", "/etc/ssl/elsewhere.pem")
	t.Setenv("COVEN_SANDBOX_TEST_KEPT_NOT", "x")
	t.Setenv("LANG", "C.UTF-8")
	env := "\n" + strings.Join(baseEnv(), "\n") + "\n"
	for _, gone := range []string{"DISCORD_BOT_TOKEN_FILE=", "COVEN_WORKER_LISTEN=", "SSL_CERT_FILE=", "COVEN_SANDBOX_TEST_KEPT_NOT="} {
		if strings.Contains(env, "\n"+gone) {
			t.Errorf("%s reaches the parts", gone)
		}
	}
	if !strings.Contains(env, "\nLANG=C.UTF-8\n") || !strings.Contains(env, "\nPATH=") {
		t.Error("ordinary variables do not reach the parts")
	}
}
