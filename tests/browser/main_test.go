package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/internal/syncbuf"
	"github.com/spellcoven/gateway/sandbox"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// tokenTTL is the demo users' token lifetime in these tests: short, so that the page refreshes its
// token several times while they run and the refresh test need not wait long.
const tokenTTL = 20 * time.Second

// stack is the sandbox every test of the package drives; stackLog collects its parts' logs.
var (
	stack    *sandbox.Stack
	stackLog = &lockedBuffer{}
	// stackDir is the sandboxes' directory: the local CA and the binaries built for the stack,
	// which another sandbox of these tests reuses.
	stackDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if _, err := os.Stat(chromiumPath); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the browser tests need headless Chromium at %s, which is missing; run: apt-get install chromium\n", chromiumPath)
		return 1
	}
	dir, err := os.MkdirTemp("", "coven-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stackDir = dir
	port, err := freeport.Pick()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The bound covers a cold build of the edge, which takes minutes on a fresh machine.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	stack, err = sandbox.Start(ctx, sandbox.Config{
		Port: port, RepoRoot: "../..", Dir: dir, TokenTTL: tokenTTL, Log: stackLog, Verbose: true,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the sandbox: %v\n%s", err, stackLog)
		return 1
	}
	code := m.Run()
	if err := stack.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the sandbox:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "sandbox log (last 16 KiB):\n%s\n", tail(stackLog.String(), 16<<10))
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			return 1
		}
	}
	return code
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer = syncbuf.Buffer

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
