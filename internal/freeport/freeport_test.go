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
