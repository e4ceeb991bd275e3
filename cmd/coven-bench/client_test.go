package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// waitTimeout bounds each wait of these tests for a condition.
const waitTimeout = 10 * time.Second

// clientIOs are the kinds of client I/O this system has.
func clientIOs() []ClientIO {
	if epollSupported {
		return []ClientIO{ClientIOEpoll, ClientIOGo}
	}
	return []ClientIO{ClientIOGo}
}

// Seqs of the test server's stream: the hello's, then events up to lastTestSeq, the last of them
// larger than 64 KiB.
const (
	helloTestSeq = 10
	lastTestSeq  = 14
)

// testServer stands in for the edge's stream endpoint. Each connection reads the auth message, sends
// a hello and the events in the hub's frame format, a pong unasked, answers {"type":"ping"} with a
// pong, pings the client at the WebSocket level, and once end is closed, closes with 4000 "test over".
type testServer struct {
	*httptest.Server
	auths  chan string // the auth message of each connection
	pinged chan error  // the result of each connection's ping
	end    chan struct{}
}

func newTestServer(t *testing.T) *testServer {
	s := &testServer{auths: make(chan string, 100), pinged: make(chan error, 100), end: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx := context.Background()
	_, auth, err := ws.Read(ctx)
	if err != nil {
		return
	}
	s.auths <- string(auth)
	event := func(seq int) string { return fmt.Sprintf(`{"v":1,"epoch":"e","seq":%d,"type":"voice.updated"}`, seq) }
	large := fmt.Sprintf(`{"v":1,"epoch":"e","seq":%d,"data":"%s"}`, lastTestSeq, strings.Repeat("x", 100<<10))
	for _, msg := range []string{
		fmt.Sprintf(`{"type":"hello","resumed":false,"epoch":"e","seq":%d,"snapshot":{"rooms":[]}}`, helloTestSeq),
		event(11) + "\n" + event(12) + "\n" + event(13),
		large,
		`{"type":"pong"}`,
	} {
		if ws.Write(ctx, websocket.MessageText, []byte(msg)) != nil {
			return
		}
	}
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		defer ws.CloseNow() // the client is gone: so is a ping waiting for its pong
		for {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if string(msg) == string(pingMessage) {
				_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
			}
		}
	}()
	s.pinged <- ws.Ping(ctx)
	select {
	case <-s.end:
		_ = ws.Close(4000, "test over")
		<-reading
	case <-reading:
	}
}

// waitFor waits until ok holds, and fails the test if it does not within waitTimeout.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitTimeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// receive returns the next value of ch, and fails the test if none comes within waitTimeout.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("waited %v for a %T", waitTimeout, *new(T))
		panic("unreachable")
	}
}

// forEachClientIO runs test once per kind of client I/O, each with a test server of its own and a
// context bounded by waitTimeout.
func forEachClientIO(t *testing.T, test func(t *testing.T, ctx context.Context, kind ClientIO, srv *testServer)) {
	for _, kind := range clientIOs() {
		t.Run(string(kind), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			test(t, ctx, kind, newTestServer(t))
		})
	}
}

// sameToken gives every client token.
func sameToken(token string) func(int) (string, error) {
	return func(int) (string, error) { return token, nil }
}

func TestClientsReadCheckAndAnswerARealServer(t *testing.T) {
	const clients = 3
	forEachClientIO(t, func(t *testing.T, ctx context.Context, kind ClientIO, srv *testServer) {
		clk := newClock()
		times := newEventTimes(helloTestSeq+1, lastTestSeq-helloTestSeq)
		for seq := uint64(helloTestSeq + 1); seq <= lastTestSeq; seq++ {
			times.posted(seq, clk.now())
		}
		token := strings.Repeat("t", 300) // the auth frame's length takes 16 bits
		f, err := connect(ctx, kind, clients, 2, srv.wsURL(), sameToken(token), clk, times)
		if err != nil {
			t.Fatal(err)
		}
		defer f.close()
		for range clients {
			if got, want := receive(t, srv.auths), `{"type":"auth","token":"`+token+`"}`; got != want {
				t.Fatalf("auth message %.60q, want %.60q", got, want)
			}
		}
		waitFor(t, "every event", func() bool {
			return f.count(func(c *client) bool { return c.lastSeq.Load() == lastTestSeq && c.pongs.Load() == 1 }) == clients
		})
		for _, c := range f.clients {
			if err := c.ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the pongs", func() bool { return f.count(func(c *client) bool { return c.pongs.Load() == 2 }) == clients })
		for range clients {
			if err := receive(t, srv.pinged); err != nil {
				t.Errorf("the server's ping: %v", err)
			}
		}
		close(srv.end)
		waitFor(t, "the server to close every client", func() bool { return f.count((*client).alive) == 0 })
		for i, c := range f.clients {
			if err := c.lostError(); err == nil || !strings.Contains(err.Error(), `closed by the edge with 4000 "test over"`) {
				t.Errorf("client %d lost: %v", i, err)
			}
			if err := c.check.verify(helloTestSeq, lastTestSeq); err != nil || c.failure != nil {
				t.Errorf("client %d: %v, failure %v", i, err, c.failure)
			}
			if c.latency.total != lastTestSeq-helloTestSeq {
				t.Errorf("client %d recorded %d latencies", i, c.latency.total)
			}
		}
	})
}
