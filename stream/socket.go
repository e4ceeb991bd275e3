package stream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/internal/wsframe"
)

// Buffer sizes of an accepted socket. Client messages are rare and small (a read larger than the
// buffer goes straight to the caller's), and the library writes only control frames, at most 127
// bytes on the wire (RFC 6455: a payload of at most 125), so that each is one write of the whole
// frame. The 4 KiB reader and writer net/http hands over with a hijacked connection would double
// what an idle connection costs.
const (
	socketReadBuffer  = 128
	socketWriteBuffer = 2 + 125
)

// Socket is an accepted WebSocket. The library (coder/websocket) reads client messages and writes
// control frames (ping, pong, close); data frames, which the hub frames once per event and shares,
// are written straight to the connection. One lock orders the two, frame by frame.
type Socket struct {
	ws     *websocket.Conn
	fc     *frameConn
	onPong func(payload []byte) // set before the first read; called by the reading goroutine
}

// Accept completes the WebSocket handshake of r, as websocket.Accept does with opts, and takes the
// connection over. It hijacks the innermost ResponseWriter: wrappers that keep the request (such as
// Caddy's per-request metrics) do not hold on to it for the life of the socket. The handshake's
// response still goes through w, so the wrappers see the 101.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*Socket, error) {
	hj := &hijacker{ResponseWriter: w, inner: innermost(w)}
	sock := &Socket{}
	o := websocket.AcceptOptions{}
	if opts != nil {
		o = *opts
	}
	o.OnPongReceived = func(_ context.Context, payload []byte) {
		if sock.onPong != nil {
			sock.onPong(payload)
		}
	}
	ws, err := websocket.Accept(hj, r, &o)
	if err != nil {
		return nil, err
	}
	sock.ws, sock.fc = ws, hj.fc
	return sock, nil
}

// innermost unwraps w as http.ResponseController does, to the last writer.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// hijacker is the ResponseWriter the library upgrades through.
type hijacker struct {
	http.ResponseWriter
	inner http.ResponseWriter
	fc    *frameConn
}

func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// Hijack takes the connection from the innermost writer, keeps what the client sent after the
// request (the library reads it first) and drops net/http's buffers for small ones.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.inner.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("stream: the connection cannot be taken over (no http.Hijacker)")
	}
	c, brw, err := hj.Hijack() // net/http sends the 101 the library wrote through w first
	if err != nil {
		return nil, nil, err
	}
	h.fc = newFrameConn(c)
	var br *bufio.Reader
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), h.fc), max(socketReadBuffer, n))
		if _, err := br.Peek(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	} else {
		br = bufio.NewReaderSize(h.fc, socketReadBuffer)
	}
	return h.fc, bufio.NewReadWriter(br, bufio.NewWriterSize(h.fc, socketWriteBuffer)), nil
}

// frameConn is the connection as both writers see it. The library reads and writes through it as a
// net.Conn; the hub writes data frames with WriteFrame and WriteFrameNow. mu is held by every write,
// and across a frame the socket took only part of until its rest is written.
type frameConn struct {
	net.Conn
	raw syscall.RawConn // nil when the connection is no socket of its own (TLS): no writes without waiting

	mu        sync.Mutex
	partial   bool        // WriteFrameNow left mu held for the rest of a frame (the hub's writer owns it)
	closeSent atomic.Bool // a close frame went out: no data frame may follow

	// WriteFrameNow's arguments and results for tryWrite, bound once so that a write allocates nothing.
	now     []byte
	nowN    int
	nowErr  error
	tryFunc func(fd uintptr) bool
}

func newFrameConn(c net.Conn) *frameConn {
	fc := &frameConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			fc.raw = raw
			fc.tryFunc = fc.tryWrite
		}
	}
	return fc
}

// Write is the library's: whole control frames, one per call.
func (fc *frameConn) Write(p []byte) (int, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if wsframe.Opcode(p) == wsframe.OpClose {
		fc.closeSent.Store(true)
	}
	return fc.Conn.Write(p)
}

// WriteFrame writes a data frame for the hub, waiting for the socket; after a partial
// WriteFrameNow, frame is the rest of that frame. Only the hub's writer, to which the shard hands
// the rest, calls it: any other writer uses writeWhole, which waits for the rest to be written. A
// ctx that can end bounds the write, and ends a hub write in flight: the connection is unusable
// afterwards (the caller closes it).
func (fc *frameConn) WriteFrame(ctx context.Context, frame []byte) error {
	if !fc.partial {
		return fc.writeWhole(ctx, frame)
	}
	fc.partial = false // mu is held since WriteFrameNow
	defer fc.mu.Unlock()
	return fc.writeLocked(ctx, frame)
}

// writeWhole writes one whole frame, after any frame under way, bounded by ctx as WriteFrame is.
func (fc *frameConn) writeWhole(ctx context.Context, frame []byte) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closeSent.Load() {
		return net.ErrClosed
	}
	if wsframe.Opcode(frame) == wsframe.OpClose {
		fc.closeSent.Store(true)
	}
	return fc.writeLocked(ctx, frame)
}

func (fc *frameConn) writeLocked(ctx context.Context, frame []byte) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = fc.Conn.SetWriteDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	_, err := fc.Conn.Write(frame)
	return err
}

// WriteFrameNow writes what the socket takes of frame at once (one write(2) on a socket that never
// blocks), or nothing when a control frame is being written or the connection is not a socket.
func (fc *frameConn) WriteFrameNow(frame []byte) (int, error) {
	if fc.raw == nil || !fc.mu.TryLock() {
		return 0, nil
	}
	if fc.closeSent.Load() {
		fc.mu.Unlock()
		return 0, net.ErrClosed
	}
	fc.now = frame
	err := fc.raw.Write(fc.tryFunc)
	n := fc.nowN
	if err == nil {
		err = fc.nowErr
	}
	fc.now, fc.nowErr = nil, nil
	if err != nil || n == 0 || n == len(frame) {
		fc.mu.Unlock()
		return n, err
	}
	fc.partial = true
	partialFrames.Add(1)
	return n, nil
}

// partialFrames counts the frames WriteFrameNow wrote only in part (read by the tests).
var partialFrames atomic.Uint64

// tryWrite is one non-blocking write(2) of fc.now; it never asks to wait for the socket.
func (fc *frameConn) tryWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), fc.now)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			n, err = 0, nil
		case err != nil:
			n = 0
		}
		fc.nowN, fc.nowErr = n, err
		return true
	}
}

// writeText sends msg as one text message, bounded by ctx.
func (fc *frameConn) writeText(ctx context.Context, msg []byte) error {
	buf := make([]byte, wsframe.MaxHeaderLen, wsframe.MaxHeaderLen+len(msg))
	return fc.writeWhole(ctx, wsframe.Text(append(buf, msg...)))
}

// hubConn is the hub's view of a socket. Its writes take no context: the hub bounds every write
// itself (it closes the connection of a write that takes too long, which ends it), and a context
// per write would cost a context.AfterFunc each.
type hubConn Socket

func (c *hubConn) Write(_ context.Context, msg []byte) error {
	return c.fc.writeText(context.Background(), msg)
}

func (c *hubConn) WriteFrame(_ context.Context, frame []byte) error {
	return c.fc.WriteFrame(context.Background(), frame)
}

func (c *hubConn) WriteFrameNow(frame []byte) (int, error) { return c.fc.WriteFrameNow(frame) }

// Close closes the connection without blocking the hub: the close handshake waits for the client.
// The hub has stopped queueing frames; a write in flight ends before the close frame, or fails when
// the library, after its 5 s, closes the connection.
func (c *hubConn) Close(code int, reason string) {
	go c.ws.Close(websocket.StatusCode(code), reason)
}

var _ hub.FrameConn = (*hubConn)(nil)
