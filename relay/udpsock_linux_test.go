package relay

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// The relay's socket sends every datagram whole to its address, from several goroutines at once,
// without allocating, and through WriteTo as well.
func TestUDPSocketSendsFromManyGoroutines(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sock, ok := newUDPSocket(c).(*udpSocket)
	if !ok {
		t.Fatal("a UDP socket was not wrapped")
	}
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	_ = rx.SetReadBuffer(4 << 20)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

	const writers, each = 4, 200
	got := make(chan []byte, writers*each+1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				close(got)
				return
			}
			if from.Port() != uint16(c.LocalAddr().(*net.UDPAddr).Port) {
				t.Errorf("a datagram from %v", from)
			}
			got <- bytes.Clone(buf[:n])
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			p := make([]byte, 1200)
			for i := range each {
				binary.BigEndian.PutUint32(p, uint32(w<<16|i))
				if n, err := sock.WriteToAddrPort(p, to); err != nil || n != len(p) {
					t.Errorf("write: %d %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	if n, err := sock.WriteTo([]byte("through WriteTo"), net.UDPAddrFromAddrPort(to)); err != nil || n != 15 {
		t.Fatalf("WriteTo: %d %v", n, err)
	}
	seen := map[uint32]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < writers*each+1 {
		select {
		case p := <-got:
			switch {
			case string(p) == "through WriteTo":
				seen[1<<31] = true
			case len(p) != 1200:
				t.Fatalf("a datagram of %d bytes", len(p))
			default:
				seen[binary.BigEndian.Uint32(p)] = true
			}
		case <-deadline:
			t.Fatalf("%d of %d datagrams arrived (loopback drops none with a 4 MiB buffer)", len(seen), writers*each+1)
		}
	}
	p := make([]byte, 100)
	if allocs := testing.AllocsPerRun(100, func() { _, _ = sock.WriteToAddrPort(p, to) }); allocs != 0 && !raceEnabled {
		t.Errorf("%.1f allocations per datagram", allocs)
	}
	// An address the fast path does not take goes the ordinary way (and fails as it would).
	if _, err := sock.WriteToAddrPort(p, netip.MustParseAddrPort("[::1]:9")); err == nil {
		t.Error("an IPv6 address written from an IPv4 socket did not fail")
	}
}
