package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// clientReadLimit is the largest message a bench client accepts: the hello carries the snapshot and
// the hub joins up to 64 KiB of frames into one message.
const clientReadLimit = 1 << 20

// authMessage is a client's first message, as a browser sends it.
func authMessage(token string) []byte {
	return append(append([]byte(`{"type":"auth","token":"`), token...), `"}`...)
}

// pingMessage asks the edge for a pong, which proves a connection is still served end to end.
var pingMessage = []byte(`{"type":"ping"}`)

// client is one WebSocket subscriber. Whatever reads its connection (a goroutine of its own or an
// epoll loop) hands each message to receive, which splits it into frames, checks their order and
// records each event's latency: nothing is decoded and nothing is allocated per message.
type client struct {
	conn  clientConn
	clock *clock
	times *eventTimes // nil when latencies are not recorded

	// Owned by the reader until done is closed.
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

// clientConn is a client's connection as the coordinator uses it; reading is the dialer's business.
type clientConn interface {
	// write sends msg as one text message.
	write(ctx context.Context, msg []byte) error
	// closeNow drops the connection without a close handshake; reading then stops.
	closeNow()
}

// clientIO opens the clients of a fleet with one kind of I/O.
type clientIO interface {
	// dial opens a stream to url, authenticates with token, sets c.conn and starts reading into c;
	// the hello arrives later.
	dial(ctx context.Context, url, token string, c *client) error
	// close releases what the dialer holds, once every client is closed.
	close()
}

// newClientIO returns the dialer of kind for dialing at most parallel clients at a time.
func newClientIO(kind ClientIO, parallel int) (clientIO, error) {
	if kind == ClientIOGo {
		return newGoIO(parallel), nil
	}
	return newEpollIO()
}

// newClient returns a client to dial, which records latencies if times is not nil.
func newClient(clk *clock, times *eventTimes) *client {
	c := &client{clock: clk, times: times, done: make(chan struct{})}
	if times != nil {
		c.latency = new(histogram)
	}
	return c
}

// receive handles one message received at now: one or more frames joined by '\n'.
func (c *client) receive(msg []byte, now time.Duration) {
	for len(msg) > 0 {
		var frame []byte
		frame, msg = nextFrame(msg)
		c.handle(frame, now)
	}
}

// stop records why reading stopped; the reader calls it last.
func (c *client) stop(err error) {
	c.readErr = err
	close(c.done)
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

// ping sends {"type":"ping"}; the pong is counted by the reader.
func (c *client) ping(ctx context.Context) error {
	return c.conn.write(ctx, pingMessage)
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
	c.conn.closeNow()
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
	io      clientIO // what dialed them, closed after them
}

// connect opens n clients, at most parallel at a time, each with its own token, and returns once all
// are connected or the first fails (closing those already open).
func connect(ctx context.Context, kind ClientIO, n, parallel int, url string, tokens func(i int) (string, error), clk *clock, times *eventTimes) (*fleet, error) {
	cio, err := newClientIO(kind, parallel)
	if err != nil {
		return nil, err
	}
	f := &fleet{clients: make([]*client, n), io: cio}
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
					c := newClient(clk, times)
					if err = cio.dial(ctx, url, token, c); err == nil {
						f.clients[i] = c
					}
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

// close closes every client that was opened, then their dialer.
func (f *fleet) close() {
	for _, c := range f.clients {
		if c != nil {
			c.close()
		}
	}
	f.io.close()
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
