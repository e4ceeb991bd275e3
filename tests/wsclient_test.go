package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/event"
)

// frame is one server message, a hello, an error, a pong or an event.
type frame struct {
	Type     string           `json:"type"`
	Resumed  bool             `json:"resumed"`
	Epoch    string           `json:"epoch"`
	Seq      uint64           `json:"seq"`
	Snapshot *json.RawMessage `json:"snapshot"`
	Code     string           `json:"code"`
	Message  string           `json:"message"`
	Data     json.RawMessage  `json:"data"`
	raw      []byte
}

// wsClient is a test browser: it reads every frame into a channel.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan frame
	closed chan struct{}
	err    error // the read error that ended the client, valid after closed
}

type dialOptions struct {
	origin string
	header http.Header
}

func dial(t *testing.T, e *edge, o dialOptions) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	for k, v := range o.header {
		h[k] = v
	}
	if o.origin != "" {
		h.Set("Origin", o.origin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 24)
	cl := &wsClient{t: t, c: c, frames: make(chan frame, 100000), closed: make(chan struct{})}
	go cl.readLoop()
	t.Cleanup(func() { c.CloseNow() })
	return cl, resp, nil
}

func (c *wsClient) readLoop() {
	defer close(c.closed)
	for {
		_, msg, err := c.c.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		for _, part := range bytes.Split(msg, []byte{'\n'}) {
			var f frame
			if err := json.Unmarshal(part, &f); err != nil {
				c.err = err
				return
			}
			f.raw = part
			c.frames <- f
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

type authMessage struct {
	Type   string          `json:"type"`
	Token  string          `json:"token,omitempty"`
	Resume *event.Position `json:"resume,omitempty"`
}

func (c *wsClient) auth(token string, resume *event.Position) {
	c.send(authMessage{Type: "auth", Token: token, Resume: resume})
}

// next returns the next frame, failing the test after d.
func (c *wsClient) next(d time.Duration) frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("stream closed while waiting for a frame: %v", c.err)
	case <-time.After(d):
		c.t.Fatalf("no frame within %v", d)
	}
	return frame{}
}

// hello reads the hello frame.
func (c *wsClient) hello() frame {
	c.t.Helper()
	f := c.next(10 * time.Second)
	if f.Type != "hello" {
		c.t.Fatalf("first frame is %s, want hello: %s", f.Type, f.raw)
	}
	return f
}

// closeStatus waits for the stream to end and returns the close code.
func (c *wsClient) closeStatus(d time.Duration) websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(d):
		c.t.Fatalf("stream not closed within %v", d)
	}
	var ce websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return -1
}

// expectEvents reads frames until n events arrived and checks they are seqs from, from+1, ...
func (c *wsClient) expectEvents(from uint64, n int, d time.Duration) []frame {
	c.t.Helper()
	var got []frame
	deadline := time.Now().Add(d)
	for len(got) < n {
		f := c.next(time.Until(deadline))
		if f.Type == "pong" {
			continue
		}
		want := from + uint64(len(got))
		if f.Seq != want {
			c.t.Fatalf("got %s seq %d, want seq %d", f.Type, f.Seq, want)
		}
		got = append(got, f)
	}
	return got
}

// quiet checks that no frame arrives within d.
func (c *wsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %s", f.raw)
	case <-time.After(d):
	}
}
