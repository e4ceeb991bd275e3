// Package worker holds the worker's end-to-end tests: the Discord emulator (in this process) ->
// the worker (a real coven-worker process) -> the edge (a real Caddy process) -> WebSocket clients.
// They check that what a browser sees equals what the emulator holds, through every event type and
// through failures of each part: the edge down or killed, the worker killed, the gateway session
// reconnected, resumed or refused. The benchmarks measure event latency and session restoration.
package stack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/internal/proc"
)

// caddyBin and workerBin are built once for the package.
var caddyBin, workerBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "coven-worker-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if caddyBin, err = edgetest.BuildCaddy("../..", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if workerBin, err = proc.Build(context.Background(), "../..", "./cmd/coven-worker", dir, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	// Idle keep-alive connections of the shared client are not leaks of the code under test.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			return 1
		}
	}
	return code
}
