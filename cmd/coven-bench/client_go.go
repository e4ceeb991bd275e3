package main

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// goIO dials clients with github.com/coder/websocket, each read by a goroutine of its own through
// Go's netpoller.
type goIO struct {
	transport *http.Transport
	hc        *http.Client
}

func newGoIO(parallel int) *goIO {
	transport := &http.Transport{MaxIdleConnsPerHost: parallel}
	return &goIO{transport: transport, hc: &http.Client{Transport: transport}}
}

func (g *goIO) dial(ctx context.Context, url, token string, c *client) error {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: g.hc})
	if err != nil {
		return err
	}
	ws.SetReadLimit(clientReadLimit)
	if err := ws.Write(ctx, websocket.MessageText, authMessage(token)); err != nil {
		ws.CloseNow()
		return err
	}
	conn := &goConn{ws: ws, buf: make([]byte, 4096)}
	c.conn = conn
	go conn.readLoop(c)
	return nil
}

func (g *goIO) close() { g.transport.CloseIdleConnections() }

// goConn is a coder/websocket connection with the buffer its goroutine reads messages into, reused
// once it has grown to the largest message.
type goConn struct {
	ws  *websocket.Conn
	buf []byte
}

func (g *goConn) write(ctx context.Context, msg []byte) error {
	return g.ws.Write(ctx, websocket.MessageText, msg)
}

func (g *goConn) closeNow() { g.ws.CloseNow() }

func (g *goConn) readLoop(c *client) {
	ctx := context.Background() // no deadline: a Reader with one costs a timer per message
	for {
		msg, err := g.readMessage(ctx)
		if err != nil {
			c.stop(err)
			return
		}
		c.receive(msg, c.clock.now())
	}
}

// readMessage reads one message into g.buf, growing it when a message does not fit.
func (g *goConn) readMessage(ctx context.Context) ([]byte, error) {
	_, r, err := g.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	n := 0
	for {
		if n == len(g.buf) {
			g.buf = append(g.buf, make([]byte, len(g.buf))...)
		}
		m, err := r.Read(g.buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return g.buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
}
