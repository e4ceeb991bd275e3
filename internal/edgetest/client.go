package edgetest

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

// Frame is one server message, a hello, an error, a pong or an event.
type Frame struct {
	Type     string           `json:"type"`
	Resumed  bool             `json:"resumed"`
	Epoch    string           `json:"epoch"`
	Seq      uint64           `json:"seq"`
	State    string           `json:"state"`  // of a hello: "unknown" while the edge holds nothing
	Broker   string           `json:"broker"` // of a status frame: "ok" or "unavailable"
	Snapshot *json.RawMessage `json:"snapshot"`
	Code     string           `json:"code"`
	Message  string           `json:"message"`
	Data     json.RawMessage  `json:"data"`
	// Raw is the frame as received.
	Raw []byte `json:"-"`
}

// Client is a test browser: it reads every frame into a channel.
type Client struct {
	t testing.TB
	// C is the underlying connection.
	C *websocket.Conn
	// Frames receives every frame, hello and errors included.
	Frames chan Frame
	// Closed is closed when the stream ends.
	Closed chan struct{}
	// Err is the read error that ended the client, valid once Closed is closed.
	Err error
}

// DialOptions are the upgrade request's extras.
type DialOptions struct {
	Origin string
	Header http.Header
}

// Dial opens a stream to e without authenticating.
func Dial(t testing.TB, e *Edge, o DialOptions) (*Client, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.WSURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 24)
	cl := &Client{t: t, C: c, Frames: make(chan Frame, 100000), Closed: make(chan struct{})}
	go cl.readLoop()
	t.Cleanup(func() { c.CloseNow() })
	return cl, resp, nil
}

func (c *Client) readLoop() {
	defer close(c.Closed)
	for {
		_, msg, err := c.C.Read(context.Background())
		if err != nil {
			c.Err = err
			return
		}
		for _, part := range bytes.Split(msg, []byte{'\n'}) {
			var f Frame
			if err := json.Unmarshal(part, &f); err != nil {
				c.Err = err
				return
			}
			f.Raw = part
			c.Frames <- f
		}
	}
}

// Send writes v as a JSON text message.
func (c *Client) Send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.C.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

type authMessage struct {
	Type   string          `json:"type"`
	Token  string          `json:"token,omitempty"`
	Resume *event.Position `json:"resume,omitempty"`
}

// Auth sends the auth message.
func (c *Client) Auth(token string, resume *event.Position) {
	c.Send(authMessage{Type: "auth", Token: token, Resume: resume})
}

// Next returns the next frame, failing the test after d.
func (c *Client) Next(d time.Duration) Frame {
	c.t.Helper()
	select {
	case f := <-c.Frames:
		return f
	case <-c.Closed:
		select {
		case f := <-c.Frames:
			return f
		default:
		}
		c.t.Fatalf("stream closed while waiting for a frame: %v", c.Err)
	case <-time.After(d):
		c.t.Fatalf("no frame within %v", d)
	}
	return Frame{}
}

// Hello reads the hello frame.
func (c *Client) Hello() Frame {
	c.t.Helper()
	f := c.Next(10 * time.Second)
	if f.Type != "hello" {
		c.t.Fatalf("first frame is %s, want hello: %s", f.Type, f.Raw)
	}
	return f
}

// CloseStatus waits for the stream to end and returns the close code.
func (c *Client) CloseStatus(d time.Duration) websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.Closed:
	case <-time.After(d):
		c.t.Fatalf("stream not closed within %v", d)
	}
	var ce websocket.CloseError
	if errors.As(c.Err, &ce) {
		return ce.Code
	}
	return -1
}

// ExpectEvents reads frames until n events arrived and checks they are seqs from, from+1, ...
func (c *Client) ExpectEvents(from uint64, n int, d time.Duration) []Frame {
	c.t.Helper()
	var got []Frame
	deadline := time.Now().Add(d)
	for len(got) < n {
		f := c.Next(time.Until(deadline))
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

// Quiet checks that no frame arrives within d.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.Frames:
		c.t.Fatalf("unexpected frame %s", f.Raw)
	case <-time.After(d):
	}
}
