package freeport

import (
	"net"
	"strconv"
	"testing"
)

// A picked port is below the ephemeral range, where no outgoing connection takes it, and free.
func TestPickIsBelowTheEphemeralRangeAndFree(t *testing.T) {
	low, ok := ephemeralLow() // without it (not Linux), only freedom is checked
	for range 20 {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if ok && low-lowest >= 1000 && (port < lowest || port >= low) {
			t.Fatalf("port %d is not in [%d, %d)", port, lowest, low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d is not free: %v", port, err)
		}
		l.Close()
	}
}

// A port is picked once per process: a test that picks one for each of its servers before starting
// them gets as many ports as servers.
func TestPickNeverRepeatsAPortInOneProcess(t *testing.T) {
	pickAvoiding(t, 1000, nil)
}

// pickAvoiding picks n ports and fails the test if one is picked twice or is in taken.
func pickAvoiding(t *testing.T, n int, taken map[int]bool) {
	t.Helper()
	seen := map[int]bool{}
	for range n {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] || taken[port] {
			t.Fatalf("port %d picked twice (here %v, by the other process %v)", port, seen[port], taken[port])
		}
		seen[port] = true
	}
}
