//go:build !linux

package relay

import "net"

// newUDPSocket returns c: elsewhere than on Linux the relay sends through the net package.
func newUDPSocket(c net.PacketConn) net.PacketConn { return c }
