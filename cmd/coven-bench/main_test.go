package main

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// caddyBin is the edge binary, built once for the package the way the tool builds it by default.
var caddyBin string

func TestMain(m *testing.M) {
	if isAbuseChild() { // a run's abusive clients, started from this test binary
		os.Exit(abuseChildMain(os.Stdin, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "coven-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin, err = caddyBinary("", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// testLog passes a run's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Logf("%s", p)
	return len(p), nil
}
