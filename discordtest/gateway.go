package discordtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// gatewayConn is one client WebSocket on the gateway. The HTTP handler's goroutine reads; one
// writer goroutine owns all writes (and the zlib-stream context), fed by a bounded queue so that a
// dispatch never waits for a slow client.
type gatewayConn struct {
	srv     *Server
	ws      *websocket.Conn
	version int
	// zlibStream is the transport compression chosen in the URL (?compress=zlib-stream).
	zlibStream bool
	// perMessage is identify's compress:true: each dispatch is a whole zlib stream.
	perMessage atomic.Bool

	out      chan outFrame
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	// The fields below are guarded by srv.mu.
	sess *session
	// closing is set once the server decided to close; later client payloads are ignored and
	// the client's close code no longer decides the session's fate.
	closing       bool
	finished      bool
	ackHeartbeats bool
	hbTimer       *time.Timer

	// Send-rate accounting, used by the reading goroutine only.
	sent       int
	sentWindow time.Time
}

// outFrame is one item of a connection's send queue: a payload, or a close.
type outFrame struct {
	payload []byte
	// dispatch marks op 0 payloads, the ones identify's compress:true compresses.
	dispatch bool
	// closeCode, when set, closes the connection with that code after the frames before it.
	closeCode   websocket.StatusCode
	closeReason string
}

// serveGateway accepts a gateway WebSocket and runs it until it ends.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Discord's gateway accepts any origin, and negotiates no permessage-deflate.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	// Payloads over MaxPayloadBytes are refused with 4002 by the reader, which discards the rest
	// of the message without buffering it, so the library's own limit is not needed.
	ws.SetReadLimit(-1)
	c := &gatewayConn{
		srv:           s,
		ws:            ws,
		zlibStream:    q.Get("compress") == "zlib-stream",
		out:           make(chan outFrame, s.cfg.Gateway.OutboundQueue),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
		ackHeartbeats: true,
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.obs.connectionOpened()
	s.mu.Unlock()
	defer s.connWG.Done()

	go c.writeLoop()

	code, reason := checkGatewayQuery(q.Get("v"), q.Get("encoding"), q.Get("compress"))
	s.mu.Lock()
	if code != 0 {
		c.closeLocked(code, reason)
	} else {
		c.version = 10
		if q.Get("v") == "9" {
			c.version = 9
		}
		c.enqueue(outFrame{payload: opPayload(opHello, map[string]any{
			"heartbeat_interval": s.cfg.Gateway.HeartbeatInterval.Milliseconds(),
			"_trace":             []string{`["discordtest-gateway"]`},
		})})
		c.hbTimer = time.AfterFunc(s.cfg.Gateway.HeartbeatTimeout, c.heartbeatMissed)
	}
	s.mu.Unlock()

	err = c.readLoop()
	c.finish(err)
}

// checkGatewayQuery validates the connection URL's parameters; a zero code means acceptable.
func checkGatewayQuery(v, encoding, compress string) (websocket.StatusCode, string) {
	switch {
	case v != "9" && v != "10":
		return closeInvalidAPIVersion, "Invalid API version."
	case encoding != "" && encoding != "json":
		return closeUnknownError, "only encoding=json is emulated"
	case compress != "" && compress != "zlib-stream":
		return closeUnknownError, "only compress=zlib-stream is emulated"
	}
	return 0, ""
}

// readLoop reads client payloads until the connection ends.
func (c *gatewayConn) readLoop() error {
	limit := c.srv.cfg.Gateway.MaxPayloadBytes
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		if err != nil {
			return err
		}
		tooBig := len(data) > limit
		if tooBig {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
		}
		c.handle(data, tooBig)
	}
}

// finish settles the session once the connection has ended: a 1000 or 1001 close from the client
// ends the session; anything else (another code, a dropped TCP connection, a close the server
// started) leaves it resumable for the resume window.
func (c *gatewayConn) finish(readErr error) {
	s := c.srv
	code := websocket.CloseStatus(readErr)
	s.mu.Lock()
	c.finished = true
	delete(s.conns, c)
	if c.hbTimer != nil {
		c.hbTimer.Stop()
	}
	if code != -1 {
		s.obs.clientClosed(int(code))
	}
	if sess := c.sess; sess != nil && sess.conn == c {
		sess.conn = nil
		sess.detachedAt = time.Now()
		if !c.closing && (code == websocket.StatusNormalClosure || code == websocket.StatusGoingAway) {
			delete(s.sessions, sess.id)
		}
	}
	c.sess = nil
	s.mu.Unlock()

	c.abort()
	<-c.done
}

// enqueue queues a frame without blocking. A client too slow to take its queue is dropped; its
// session stays resumable and the resume replays what it missed.
func (c *gatewayConn) enqueue(f outFrame) {
	select {
	case c.out <- f:
	default:
		c.srv.log.Warn("gateway client too slow, dropping its connection")
		c.drop()
	}
}

// abort closes the TCP connection at once, without a close frame, even while the writer is
// blocked on a client that stopped reading. It reports whether this call was the one that did.
func (c *gatewayConn) abort() bool {
	aborted := false
	c.stopOnce.Do(func() {
		aborted = true
		close(c.stop)
		_ = c.ws.CloseNow()
	})
	return aborted
}

// drop aborts the connection as a fault or a penalty, counted in Stats.Drops.
func (c *gatewayConn) drop() {
	if c.abort() {
		c.srv.obs.dropped()
	}
}

// closeLocked starts a server-side close with code. Sessions survive it, except for 4007 and
// 4009, whose meaning is that the session is over. Called with srv.mu held.
func (c *gatewayConn) closeLocked(code websocket.StatusCode, reason string) {
	if c.closing || c.finished {
		return
	}
	c.closing = true
	c.srv.obs.serverClosed(int(code))
	if sess := c.sess; sess != nil && (code == closeInvalidSeq || code == closeSessionTimedOut) {
		delete(c.srv.sessions, sess.id)
	}
	c.enqueue(outFrame{closeCode: code, closeReason: reason})
}

// heartbeatMissed closes a connection whose client stopped heartbeating.
func (c *gatewayConn) heartbeatMissed() {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	c.closeLocked(closeSessionTimedOut, "Session timed out.")
}

// writeLoop writes queued frames in order until a close, a drop or a write error.
func (c *gatewayConn) writeLoop() {
	defer close(c.done)
	enc := newFrameEncoder(c.zlibStream)
	for {
		select {
		case <-c.stop:
			_ = c.ws.CloseNow()
			return
		case f := <-c.out:
			if f.closeCode != 0 {
				// Close waits (up to 5 s, inside the library) for the client to answer the close
				// frame; every well-behaved client does so at once.
				_ = c.ws.Close(f.closeCode, f.closeReason)
				return
			}
			typ, data, err := enc.encode(f.payload, f.dispatch && c.perMessage.Load())
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.Gateway.WriteTimeout)
				err = c.ws.Write(ctx, typ, data)
				cancel()
			}
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					c.srv.log.Debug("gateway write failed", "error", err)
				}
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}
