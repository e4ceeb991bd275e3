package web

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// nodeTestTimeout bounds the whole run of the JavaScript tests.
const nodeTestTimeout = 3 * time.Minute

// requireNode returns the node binary, failing the test with what to do when node or the pinned npm
// modules are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; the web client's tests need Node 20 or later")
	}
	if _, err := os.Stat("node_modules/ws/package.json"); err != nil {
		t.Fatal("web/node_modules is missing; run: (cd web && npm ci)")
	}
	return node
}

var (
	passCount = regexp.MustCompile(`(?m)^# pass (\d+)$`)
	failCount = regexp.MustCompile(`(?m)^# fail (\d+)$`)
)

// TestJavaScript runs the client library's tests (web/test/) under Node's test runner, so that
// `go test ./...` covers them.
func TestJavaScript(t *testing.T) {
	node := requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), nodeTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "test/")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test test/ failed: %v\n%s", err, out)
	}
	pass, fail := passCount.FindSubmatch(out), failCount.FindSubmatch(out)
	if pass == nil || fail == nil || string(pass[1]) == "0" || string(fail[1]) != "0" {
		t.Fatalf("node --test test/ ran no test or reported failures:\n%s", out)
	}
	t.Logf("node --test test/: %s tests passed", pass[1])
}
