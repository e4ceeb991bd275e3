// Package freeport picks a free TCP port on 127.0.0.1 for a server that must be told its port
// before it starts (a process given a configuration file), rather than listening on :0 itself.
package freeport

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports are picked below the kernel's ephemeral range: a port from that range, released by the
// picker, may be handed to any connection the machine opens meanwhile (each test of a suite opens
// many), and the server told to use it then fails to bind. Below the range only a server that binds
// that very port can take it.
const (
	lowest   = 10000
	attempts = 64
)

// Pick returns a TCP port of 127.0.0.1 that was free a moment ago, and that no other call of Pick
// returns soon after, in this process or (on Linux) in any other still running: between the pick
// and the bind, the port is free to any picker, and two servers of one test (or of two test
// packages running at once) told the same port would have one fail to bind. A server that binds
// that very port without Pick may still take it; callers that can listen on :0 themselves should.
func Pick() (int, error) {
	if low, ok := ephemeralLow(); ok && low-lowest >= 1000 {
		for range attempts {
			port := lowest + rand.IntN(low-lowest)
			if !reserve(port) {
				continue
			}
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// A process remembers its last picks so as not to return them again, and locks the most recent
// against other processes (a file held open each): by the time a port falls out of either, the
// server it was picked for has long bound it.
const (
	remembered = 4096
	locked     = 256
)

var (
	mu     sync.Mutex
	picked = map[int]bool{}
	order  []int                 // the remembered picks, oldest first
	locks  = map[int]io.Closer{} // the locked ones
)

// reserve claims port, or reports that it was picked before, here or by another process still
// running.
func reserve(port int) bool {
	mu.Lock()
	defer mu.Unlock()
	if picked[port] {
		return false
	}
	lock, ok := lockAcrossProcesses(port)
	if !ok {
		return false
	}
	picked[port], locks[port] = true, lock
	order = append(order, port)
	if n := len(order); n > locked {
		if l, ok := locks[order[n-locked-1]]; ok {
			l.Close()
			delete(locks, order[n-locked-1])
		}
	}
	if len(order) > remembered {
		delete(picked, order[0])
		order = order[1:]
	}
	return true
}

// nopCloser stands for a lock that could not be taken or is not needed.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// ephemeralLow is the first port of the kernel's ephemeral range (Linux).
func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	low, err := strconv.Atoi(f[0])
	return low, err == nil
}
