package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// clientReadLimit is the largest message a bench client accepts: the hello carries the snapshot and
// the hub joins up to 64 KiB of frames into one message.
const clientReadLimit = 1 << 20

// pingMessage asks the edge for a pong, which proves a connection is still served end to end.
var pingMessage = []byte(`{"type":"ping"}`)

// client is one WebSocket subscriber. Its single goroutine reads messages into a buffer it reuses,
// splits them into frames, checks their order and records each event's latency: nothing is decoded and
// nothing is allocated per message once the buffer has grown to the largest message.
type client struct {
	conn  *websocket.Conn
	clock *clock
	times *eventTimes // nil when latencies are not recorded
	buf   []byte

	// Owned by the reading goroutine until done is closed.
	check   seqCheck
	latency *histogram // nil when latencies are not recorded
	failure error      // a frame the bench cannot account for, or an error frame

	// Read by the coordinator while the client runs.
	helloed atomic.Bool
	lastSeq atomic.Uint64
	pongs   atomic.Int64

	closing atomic.Bool // set before the bench closes the connection itself
	readErr error       // why reading stopped, valid once done is closed
	done    chan struct{}
}

// dialClient opens a stream to url and authenticates with token; the hello arrives later, on the
// client's goroutine.
func dialClient(ctx context.Context, hc *http.Client, url, token string, clk *clock, times *eventTimes) (*client, error) {
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(clientReadLimit)
	auth := append(append([]byte(`{"type":"auth","token":"`), token...), `"}`...)
	if err := conn.Write(ctx, websocket.MessageText, auth); err != nil {
		conn.CloseNow()
		return nil, err
	}
	c := &client{conn: conn, clock: clk, times: times, buf: make([]byte, 4096), done: make(chan struct{})}
	if times != nil {
		c.latency = new(histogram)
	}
	go c.readLoop()
	return c, nil
}

func (c *client) readLoop() {
	defer close(c.done)
	ctx := context.Background() // no deadline: a Reader with one costs a timer per message
	for {
		msg, err := c.readMessage(ctx)
		if err != nil {
			c.readErr = err
			return
		}
		now := c.clock.now()
		for len(msg) > 0 {
			var frame []byte
			frame, msg = nextFrame(msg)
			c.handle(frame, now)
		}
	}
}

// readMessage reads one message into c.buf, growing it when a message does not fit.
func (c *client) readMessage(ctx context.Context) ([]byte, error) {
	_, r, err := c.conn.Reader(ctx)
	if err != nil {
		return nil, err
	}
	n := 0
	for {
		if n == len(c.buf) {
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		m, err := r.Read(c.buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return c.buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (c *client) handle(frame []byte, now time.Duration) {
	switch kindOf(frame) {
	case frameEvent:
		seq, ok := frameSeq(frame)
		if !ok {
			c.fail(fmt.Errorf("event frame without a seq: %.80s", frame))
			return
		}
		c.check.event(seq)
		c.lastSeq.Store(seq)
		if c.latency != nil {
			if at, ok := c.times.received(seq, now); ok {
				c.latency.record(now - at)
			}
		}
	case frameHello:
		seq, ok := frameSeq(frame)
		if !ok {
			c.fail(fmt.Errorf("hello without a seq: %.80s", frame))
			return
		}
		c.check.hello(seq)
		c.lastSeq.Store(seq)
		c.helloed.Store(true)
	case framePong:
		c.pongs.Add(1)
	case frameError:
		c.fail(fmt.Errorf("the edge sent %.200s", frame))
	default:
		c.fail(fmt.Errorf("unexpected frame %.80s", frame))
	}
}

func (c *client) fail(err error) {
	if c.failure == nil {
		c.failure = err
	}
}

// ping sends {"type":"ping"}; the pong is counted by the reading goroutine.
func (c *client) ping(ctx context.Context) error {
	return c.conn.Write(ctx, websocket.MessageText, pingMessage)
}

// alive reports whether the client is still reading.
func (c *client) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// close drops the connection without a close handshake and waits for the reader to stop.
func (c *client) close() {
	c.closing.Store(true)
	c.conn.CloseNow()
	<-c.done
}

// lostError describes why a client stopped reading before the bench closed it, or returns nil.
func (c *client) lostError() error {
	if c.alive() || c.closing.Load() {
		return nil
	}
	var ce websocket.CloseError
	if errors.As(c.readErr, &ce) {
		return fmt.Errorf("closed by the edge with %d %q", ce.Code, ce.Reason)
	}
	return fmt.Errorf("connection lost: %v", c.readErr)
}

// fleet is every client of a run.
type fleet struct {
	clients []*client
}

// connect opens n clients, at most parallel at a time, each with its own token, and returns once all
// are connected or the first fails (closing those already open).
func connect(ctx context.Context, n, parallel int, url string, tokens func(i int) (string, error), clk *clock, times *eventTimes) (*fleet, error) {
	f := &fleet{clients: make([]*client, n)}
	transport := &http.Transport{MaxIdleConnsPerHost: parallel}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				token, err := tokens(i)
				if err == nil {
					f.clients[i], err = dialClient(ctx, hc, url, token, clk, times)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		f.close()
		return nil, firstErr
	}
	return f, nil
}

// close closes every client that was opened.
func (f *fleet) close() {
	for _, c := range f.clients {
		if c != nil {
			c.close()
		}
	}
}

// count returns how many clients satisfy ok.
func (f *fleet) count(ok func(*client) bool) int {
	n := 0
	for _, c := range f.clients {
		if ok(c) {
			n++
		}
	}
	return n
}

// lost returns the clients that stopped reading on their own, with the reason of the first.
func (f *fleet) lost() (int, error) {
	n := 0
	var first error
	for i, c := range f.clients {
		if err := c.lostError(); err != nil {
			if first == nil {
				first = fmt.Errorf("client %d: %w", i, err)
			}
			n++
		}
	}
	return n, first
}
