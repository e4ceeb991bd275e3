package discordtest

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawGateway is a minimal gateway client on coder/websocket, for protocol-level tests: it sends
// exactly what a test says and decodes what the emulator sends, in any compression mode.
type rawGateway struct {
	t        *testing.T
	srv      *Server
	ws       *websocket.Conn
	payloads chan gatewayMessage
	// closeErr is the read error that ended the connection, set before payloads is closed.
	closeErr error
	wg       sync.WaitGroup
	lastSeq  int64
}

// gatewayMessage is one decoded server payload and how it travelled.
type gatewayMessage struct {
	Op     int             `json:"op"`
	D      json.RawMessage `json:"d"`
	S      *int64          `json:"s"`
	T      *string         `json:"t"`
	binary bool
	frame  []byte
}

// dialGateway connects to the emulator's gateway with the given query ("v=10&encoding=json").
func dialGateway(t *testing.T, s *Server, query string) *rawGateway {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.GatewayURL()+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	ws.SetReadLimit(1 << 24)
	g := &rawGateway{t: t, srv: s, ws: ws, payloads: make(chan gatewayMessage, 1024)}
	stream := strings.Contains(query, "compress=zlib-stream")
	g.wg.Add(1)
	go g.readLoop(stream)
	t.Cleanup(g.drop)
	return g
}

func (g *rawGateway) readLoop(stream bool) {
	defer g.wg.Done()
	var pw *io.PipeWriter
	var inflated sync.WaitGroup
	if stream {
		// One inflate context for the whole connection, fed every message as it arrives; the
		// decompressed stream is a sequence of JSON payloads.
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		inflated.Add(1)
		go func() {
			defer inflated.Done()
			zr, err := zlib.NewReader(pr)
			if err != nil {
				_ = pr.CloseWithError(err)
				return
			}
			dec := json.NewDecoder(zr)
			for {
				var m gatewayMessage
				if err := dec.Decode(&m); err != nil {
					_ = pr.CloseWithError(err)
					return
				}
				m.binary = true
				g.payloads <- m
			}
		}()
	}
	defer func() {
		if pw != nil {
			_ = pw.Close()
			inflated.Wait()
		}
		close(g.payloads)
	}()
	for {
		typ, data, err := g.ws.Read(context.Background())
		if err != nil {
			g.closeErr = err
			return
		}
		switch {
		case stream:
			if !bytes.HasSuffix(data, []byte{0, 0, 0xff, 0xff}) {
				g.closeErr = errors.New("zlib-stream message does not end with 00 00 FF FF")
				return
			}
			if _, err := pw.Write(data); err != nil {
				g.closeErr = err
				return
			}
		case typ == websocket.MessageBinary:
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				g.closeErr = err
				return
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				g.closeErr = err
				return
			}
			var m gatewayMessage
			if err := json.Unmarshal(plain, &m); err != nil {
				g.closeErr = err
				return
			}
			m.binary, m.frame = true, data
			g.payloads <- m
		default:
			var m gatewayMessage
			if err := json.Unmarshal(data, &m); err != nil {
				g.closeErr = err
				return
			}
			m.frame = data
			g.payloads <- m
		}
	}
}

// next returns the next payload, failing the test if none comes within timeout.
func (g *rawGateway) next(timeout time.Duration) gatewayMessage {
	g.t.Helper()
	select {
	case m, ok := <-g.payloads:
		if !ok {
			g.t.Fatalf("connection ended (%v) while a payload was expected", g.closeErr)
		}
		if m.S != nil {
			g.lastSeq = *m.S
		}
		return m
	case <-time.After(timeout):
		g.t.Fatalf("no payload within %v", timeout)
		return gatewayMessage{}
	}
}

// nextDispatch skips heartbeat ACKs and returns the next payload of another kind.
func (g *rawGateway) nextDispatch(timeout time.Duration) gatewayMessage {
	g.t.Helper()
	for {
		m := g.next(timeout)
		if m.Op != opHeartbeatACK {
			return m
		}
	}
}

// expectDispatch reads the next non-ACK payload and checks it is the named dispatch.
func (g *rawGateway) expectDispatch(name string) gatewayMessage {
	g.t.Helper()
	m := g.nextDispatch(5 * time.Second)
	if m.Op != opDispatch || m.T == nil || *m.T != name {
		g.t.Fatalf("got op %d %v %s, want dispatch %s", m.Op, deref(m.T), m.D, name)
	}
	return m
}

// expectClose waits for the server to close the connection with code.
func (g *rawGateway) expectClose(code websocket.StatusCode) {
	g.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-g.payloads:
			if ok {
				continue
			}
			if got := websocket.CloseStatus(g.closeErr); got != code {
				g.t.Fatalf("connection ended with %v (status %d), want close code %d", g.closeErr, got, code)
			}
			return
		case <-timeout:
			g.t.Fatalf("connection not closed with %d within 5s", code)
		}
	}
}

// expectSilence checks that no payload other than a heartbeat ACK arrives for a while.
func (g *rawGateway) expectSilence(d time.Duration) {
	g.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-g.payloads:
			if !ok {
				g.t.Fatalf("connection ended (%v)", g.closeErr)
			}
			if m.Op != opHeartbeatACK {
				g.t.Fatalf("unexpected payload op %d %v %s", m.Op, deref(m.T), m.D)
			}
		case <-deadline:
			return
		}
	}
}

func (g *rawGateway) send(op int, d any) {
	g.t.Helper()
	b, err := json.Marshal(map[string]any{"op": op, "d": d})
	if err != nil {
		g.t.Fatal(err)
	}
	g.sendRaw(b)
}

func (g *rawGateway) sendRaw(b []byte) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.ws.Write(ctx, websocket.MessageText, b); err != nil {
		g.t.Fatalf("send: %v", err)
	}
}

// identify sends a modern identify and returns READY's data.
func (g *rawGateway) identify(intents Intents) map[string]any {
	g.t.Helper()
	if hello := g.next(5 * time.Second); hello.Op != opHello {
		g.t.Fatalf("first payload op %d, want hello", hello.Op)
	}
	g.send(opIdentify, identifyPayload(testToken, intents))
	ready := g.expectDispatch("READY")
	return decodeJSON[map[string]any](g.t, ready.D)
}

func identifyPayload(token string, intents Intents) map[string]any {
	return map[string]any{
		"token":      token,
		"properties": map[string]string{"os": "linux", "browser": "rawtest", "device": "rawtest"},
		"intents":    intents,
	}
}

// closeWith closes the connection from the client side with code and waits for the reader.
func (g *rawGateway) closeWith(code websocket.StatusCode) {
	_ = g.ws.Close(code, "")
	g.wg.Wait()
}

// drop closes the TCP connection without a close frame and waits for the reader.
func (g *rawGateway) drop() {
	_ = g.ws.CloseNow()
	g.wg.Wait()
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
