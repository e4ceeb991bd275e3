package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Versions of the build others make: the Caddy and xcaddy of xcaddy.sh, and the most common plugin.
const (
	xcaddyVersion = "v0.4.5"
	caddyVersion  = "v2.11.9"
	otherPlugin   = "github.com/caddy-dns/cloudflare@v0.2.2"
)

// TestXcaddyBuildWithAnotherPlugin builds Caddy as someone adding the modules to their own build
// does: xcaddy, a released Caddy, this checkout with --with, and another plugin from the module proxy
// beside it; every module of both is there.
func TestXcaddyBuildWithAnotherPlugin(t *testing.T) {
	dir := t.TempDir()
	gobin := filepath.Join(dir, "bin")
	install := exec.CommandContext(context.Background(), "go", "install", "github.com/caddyserver/xcaddy/cmd/xcaddy@"+xcaddyVersion)
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("installing xcaddy: %v\n%s", err, out)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "caddy")
	build := exec.CommandContext(context.Background(), filepath.Join(gobin, "xcaddy"), "build", caddyVersion, "--output", bin,
		"--with", "github.com/spellcoven/gateway@v0.0.0="+root, "--with", otherPlugin)
	build.Dir = dir
	// Without its default -trimpath and tags, xcaddy compiles as the suite's own builds do, so their
	// compiled packages are reused.
	build.Env = append(os.Environ(), "XCADDY_GO_BUILD_FLAGS=-ldflags=-w")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("xcaddy build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(context.Background(), bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	modules := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		modules[strings.TrimSpace(l)] = true
	}
	for _, m := range []string{"coven", "http.handlers.coven_cors", "http.handlers.coven_jwt", "http.authentication.providers.coven_jwt",
		"http.handlers.coven_hmac", "http.handlers.coven_events", "http.handlers.coven_ws", "http.handlers.coven_rooms",
		"http.handlers.coven_health", "http.handlers.coven_media", "caddy.listeners.coven_accept",
		"dns.providers.cloudflare", "http.handlers.reverse_proxy"} {
		if !modules[m] {
			t.Errorf("the build lacks module %s", m)
		}
	}
	v, err := exec.CommandContext(context.Background(), bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), caddyVersion) {
		t.Errorf("caddy version = %q, %v; want %s", v, err, caddyVersion)
	}
}
