package relay

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// udpSocket is the relay's UDP port as the ICE mux sees it: it sends each datagram with its own
// sendto(2), without the net package's per-socket write lock, so that the lanes writing a frame
// to their viewers send at the same time instead of queueing on that lock (every viewer shares
// the one port). A datagram the socket cannot take at once is sent the ordinary way, waiting.
type udpSocket struct {
	*net.UDPConn
	raw syscall.RawConn
}

// newUDPSocket wraps c; a socket whose descriptor cannot be reached is used as it is.
func newUDPSocket(c net.PacketConn) net.PacketConn {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return c
	}
	return &udpSocket{UDPConn: uc, raw: raw}
}

// ReadFromAddrPort and WriteToAddrPort are what the ICE mux uses when a socket has them (pion's
// AddrPortReaderWriter): no net.Addr allocated per datagram.
func (s *udpSocket) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return s.UDPConn.ReadFromUDPAddrPort(b)
}

func (s *udpSocket) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() || len(b) == 0 {
		return s.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	op := sendOps.Get().(*sendOp)
	op.b = b
	op.sa.Family = syscall.AF_INET
	port := (*[2]byte)(unsafe.Pointer(&op.sa.Port))
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	op.sa.Addr = ip.As4()
	err := s.raw.Control(op.fn)
	errno := op.errno
	op.b = nil
	sendOps.Put(op)
	switch {
	case err != nil:
		return 0, err
	case errno == 0:
		return len(b), nil
	case errno == syscall.EAGAIN:
		return s.UDPConn.WriteToUDPAddrPort(b, addr)
	default:
		return 0, &net.OpError{Op: "write", Net: "udp", Source: s.LocalAddr(), Addr: net.UDPAddrFromAddrPort(addr), Err: os.NewSyscallError("sendto", errno)}
	}
}

// sendOp is one sendto(2), its function bound once so that a datagram allocates nothing.
type sendOp struct {
	b     []byte
	sa    syscall.RawSockaddrInet4
	errno syscall.Errno
	fn    func(fd uintptr)
}

var sendOps = sync.Pool{New: func() any {
	op := new(sendOp)
	op.fn = op.send
	return op
}}

func (op *sendOp) send(fd uintptr) {
	for {
		_, _, op.errno = syscall.Syscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)),
			0, uintptr(unsafe.Pointer(&op.sa)), syscall.SizeofSockaddrInet4)
		if op.errno != syscall.EINTR {
			return
		}
	}
}

// WriteTo is net.PacketConn's, through WriteToAddrPort.
func (s *udpSocket) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return s.UDPConn.WriteTo(b, addr)
	}
	return s.WriteToAddrPort(b, ua.AddrPort())
}
