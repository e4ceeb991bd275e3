package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spellcoven/gateway/internal/wsframe"
)

// epollSupported tells whether this system has the epoll client I/O.
const epollSupported = true

// DefaultClientIO is the client I/O of a run unless told otherwise.
const DefaultClientIO = ClientIOEpoll

const (
	// pollerReadSize is a poller's read buffer, shared by its clients.
	pollerReadSize = 64 << 10
	// pollerEvents is the most ready sockets one epoll_wait returns.
	pollerEvents = 1024
	// pollerWaitMillis bounds an epoll_wait, so that a poller notices it is stopped.
	pollerWaitMillis = 100
	// writeTimeout bounds a write that waits for room in the socket's send buffer.
	writeTimeout = 5 * time.Second
	// handshakeTimeout bounds a dial whose context has no deadline.
	handshakeTimeout = 30 * time.Second
	// maxResponseHead is the longest upgrade response head accepted.
	maxResponseHead = 8 << 10
	// acceptGUID is what the server appends to the client's key to prove it speaks WebSocket.
	acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// errFleetClosed ends a client still registered when its poller stops.
var errFleetClosed = errors.New("the fleet was closed")

// epollIO dials clients over raw sockets, outside Go's netpoller, and reads them from one epoll loop
// per GOMAXPROCS: a ready socket costs one read(2), with no goroutine to wake per client.
type epollIO struct {
	pollers []*poller
	next    atomic.Uint32 // round robin over pollers
	once    sync.Once
}

func newEpollIO() (clientIO, error) {
	e := &epollIO{}
	for range runtime.GOMAXPROCS(0) {
		p, err := newPoller()
		if err != nil {
			e.close()
			return nil, err
		}
		e.pollers = append(e.pollers, p)
	}
	return e, nil
}

func (e *epollIO) dial(ctx context.Context, rawURL, token string, c *client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := deadlineOf(ctx, handshakeTimeout)
	addr, u, err := parseWSURL(rawURL)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	conn := &epollConn{client: c, fd: fd}
	err = conn.handshake(addr, u, token, deadline)
	if err == nil {
		c.conn = conn
		err = e.pollers[e.next.Add(1)%uint32(len(e.pollers))].add(conn)
	}
	if err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}

// close stops the pollers once every client is closed.
func (e *epollIO) close() {
	e.once.Do(func() {
		for _, p := range e.pollers {
			p.stop()
		}
	})
}

// deadlineOf returns ctx's deadline, or limit from now if that comes first.
func deadlineOf(ctx context.Context, limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		return d
	}
	return deadline
}

// parseWSURL returns the address of a ws:// URL, which must be an IPv4 address and port: the bench's
// edge listens on 127.0.0.1.
func parseWSURL(rawURL string) (netip.AddrPort, *url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	addr, err := netip.ParseAddrPort(u.Host)
	if u.Scheme != "ws" || err != nil || !addr.Addr().Is4() {
		return netip.AddrPort{}, nil, fmt.Errorf("%s: the epoll client dials ws:// URLs with an IPv4 address and port", rawURL)
	}
	return addr, u, nil
}

// epollConn is a client's socket. Its poller reads it and alone closes it; writes (the coordinator's
// pings, the poller's pongs) take mu.
type epollConn struct {
	client *client
	stream wsStream // owned by the poller

	mu   sync.Mutex
	fd   int    // -1 once the poller closed it
	wbuf []byte // the frame being written
}

// handshake connects the socket, upgrades it to WebSocket (without compression) and sends the auth
// message, all before deadline.
func (c *epollConn) handshake(addr netip.AddrPort, u *url.URL, token string, deadline time.Time) error {
	if err := connectFD(c.fd, addr, deadline); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if err := writeAll(c.fd, []byte(req), deadline); err != nil {
		return err
	}
	head, err := readHead(c.fd, deadline)
	if err != nil {
		return fmt.Errorf("reading the upgrade response: %w", err)
	}
	if err := checkUpgrade(head, key); err != nil {
		return err
	}
	return c.writeFrame(wsframe.OpText, authMessage(token), deadline)
}

// checkUpgrade verifies that head, the server's response to the upgrade request with key, switches
// to WebSocket without extensions.
func checkUpgrade(head []byte, key string) error {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return fmt.Errorf("reading the upgrade response: %w", err)
	}
	status := resp.Proto + " " + resp.Status
	sum := sha1.Sum([]byte(key + acceptGUID))
	switch want := base64.StdEncoding.EncodeToString(sum[:]); {
	case resp.Proto != "HTTP/1.1" || resp.StatusCode != http.StatusSwitchingProtocols:
		return fmt.Errorf("upgrade refused: %s", status)
	case resp.Header.Get("Sec-WebSocket-Accept") != want:
		return fmt.Errorf("upgrade response %s with Sec-WebSocket-Accept %q, want %q", status, resp.Header.Get("Sec-WebSocket-Accept"), want)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return fmt.Errorf("upgrade response %s with extensions %q, none asked", status, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	return nil
}

func (c *epollConn) write(ctx context.Context, msg []byte) error {
	return c.writeFrame(wsframe.OpText, msg, deadlineOf(ctx, writeTimeout))
}

// writeFrame sends one frame of op with payload, waiting for room until deadline.
func (c *epollConn) writeFrame(op byte, payload []byte, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	c.wbuf = appendFrame(c.wbuf[:0], op, payload)
	return writeAll(c.fd, c.wbuf, deadline)
}

func (c *epollConn) message(msg []byte, now time.Duration) { c.client.receive(msg, now) }

func (c *epollConn) answerPing(payload []byte) error {
	return c.writeFrame(wsframe.OpPong, payload, time.Now().Add(writeTimeout))
}

// closeNow shuts the socket down; the poller then reads its end and closes it.
func (c *epollConn) closeNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd >= 0 {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// poller reads the sockets of its clients as epoll reports them ready (level-triggered): one read
// per readiness into a buffer all its clients share.
type poller struct {
	epfd     int
	buf      []byte
	stopping atomic.Bool
	done     chan struct{}

	mu    sync.Mutex
	conns map[int32]*epollConn // by descriptor
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	p := &poller{epfd: epfd, buf: make([]byte, pollerReadSize), done: make(chan struct{}), conns: map[int32]*epollConn{}}
	go p.loop()
	return p, nil
}

// add registers c, which the poller then owns. The lock covers the registration, so that an event
// for c's descriptor finds c.
func (p *poller) add(c *epollConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.conns[int32(c.fd)] = c
	return nil
}

func (p *poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, pollerEvents)
	stopErr := errFleetClosed
	for !p.stopping.Load() {
		n, err := unix.EpollWait(p.epfd, events, pollerWaitMillis)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			stopErr = os.NewSyscallError("epoll_wait", err)
			break
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil { // nil for an event of a socket ended earlier in the batch
				p.read(c)
			}
		}
	}
	p.mu.Lock()
	left := slices.Collect(maps.Values(p.conns))
	p.mu.Unlock()
	for _, c := range left {
		p.end(c, stopErr)
	}
	unix.Close(p.epfd)
}

// read does one read of c's socket and handles what it completes.
func (p *poller) read(c *epollConn) {
	buf := c.stream.readBuf(p.buf)
	n, err := unix.Read(c.fd, buf)
	for err == unix.EINTR {
		n, err = unix.Read(c.fd, buf)
	}
	switch {
	case err == unix.EAGAIN: // the readiness was spurious
	case err != nil:
		p.end(c, os.NewSyscallError("read", err))
	case n == 0:
		p.end(c, io.EOF)
	default:
		if err := c.stream.consume(buf, n, c.client.clock.now(), c); err != nil {
			p.end(c, err)
		}
	}
}

// end stops reading c for err: its descriptor leaves the epoll set and is closed, then the client is
// done.
func (p *poller) end(c *epollConn, err error) {
	p.mu.Lock()
	delete(p.conns, int32(c.fd))
	p.mu.Unlock()
	c.mu.Lock()
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	c.fd = -1
	c.mu.Unlock()
	c.client.stop(err)
}

// stop ends the loop, and with it the clients still registered, and waits for it.
func (p *poller) stop() {
	p.stopping.Store(true)
	<-p.done
}

// connectFD connects the non-blocking socket fd to addr before deadline.
func connectFD(fd int, addr netip.AddrPort, deadline time.Time) error {
	err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()})
	if err == unix.EINPROGRESS {
		if err = await(fd, unix.POLLOUT, deadline); err == nil {
			var errno int
			if errno, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && errno != 0 {
				err = unix.Errno(errno)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("connecting to %v: %w", addr, err)
	}
	return nil
}

// readHead reads the response head, up to its blank line and not beyond: what follows stays in the
// socket for the poller. It peeks, then takes what belongs to the head.
func readHead(fd int, deadline time.Time) ([]byte, error) {
	buf := make([]byte, 1024)
	var head []byte
	for len(head) < maxResponseHead {
		n, err := retry(fd, unix.POLLIN, deadline, func() (int, error) {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK)
			return n, err
		})
		if err != nil {
			return nil, os.NewSyscallError("recvfrom", err)
		}
		if n == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		// The blank line may straddle what was taken before and what is peeked now.
		take, complete := n, false
		if i := bytes.Index(append(slices.Clip(head), buf[:n]...), []byte("\r\n\r\n")); i >= 0 {
			take, complete = i+4-len(head), true
		}
		// Peeked bytes are queued: one read takes them all.
		if n, err := unix.Read(fd, buf[:take]); err != nil || n != take {
			return nil, fmt.Errorf("taking %d peeked bytes: read %d, %v", take, n, err)
		}
		head = append(head, buf[:take]...)
		if complete {
			return head, nil
		}
	}
	return nil, fmt.Errorf("a response head over %d bytes", maxResponseHead)
}

// writeAll writes b to the non-blocking socket fd, waiting for room until deadline.
func writeAll(fd int, b []byte, deadline time.Time) error {
	for len(b) > 0 {
		n, err := retry(fd, unix.POLLOUT, deadline, func() (int, error) {
			return unix.SendmsgN(fd, b, nil, nil, unix.MSG_NOSIGNAL) // EPIPE rather than SIGPIPE
		})
		if err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		b = b[n:]
	}
	return nil
}

// retry runs op, a non-blocking read or write of fd, again after EINTR, and after EAGAIN once fd is
// ready for events, until deadline.
func retry(fd int, events int16, deadline time.Time, op func() (int, error)) (int, error) {
	for {
		n, err := op()
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
		case unix.EAGAIN:
			if err := await(fd, events, deadline); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

// await waits until fd is ready for events, or deadline passes.
func await(fd int, events int16, deadline time.Time) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case err == unix.EINTR || err == nil && n == 0:
		case err != nil:
			return os.NewSyscallError("poll", err)
		default:
			return nil
		}
	}
}
