package voice

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// runNode runs a script of a committed node project under testdata and returns its standard
// output. The project's modules must be installed: scripts/test.sh runs npm ci for every
// committed package-lock.json; a missing install fails the test with the command to run.
func runNode(t *testing.T, project string, stdin []byte, args ...string) []byte {
	t.Helper()
	dir := filepath.Join("testdata", project)
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("node modules of %s are missing; run: (cd voice/%s && npm ci)", project, filepath.ToSlash(dir))
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %v in %s: %v\n%s", args, dir, err, stderr.Bytes())
	}
	return out
}
