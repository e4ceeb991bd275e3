// Package tests holds the integration tests of the edge: a real Caddy process built from ./cmd/caddy,
// real WebSocket clients, a real identity provider serving a JWKS, and signed webhooks over HTTP.
package tests

import (
	"fmt"
	"os"
	"testing"

	"github.com/spellcoven/gateway/internal/edgetest"
)

// caddyBin is the Caddy binary built once for the whole package.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coven-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin, err = edgetest.BuildCaddy("..", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
