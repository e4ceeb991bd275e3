package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

// conformanceHistory is the hub's history in the conformance test: small, so that a client that
// misses more events than this must fall back to the snapshot.
const conformanceHistory = 16

// TestClientFollowsHub runs the client library (under Node) against the real hub over a real
// WebSocket, feeds the hub random events, cuts the client off in the ways the edge does, and checks
// after each round that the client holds exactly the hub's rooms and members: the JavaScript
// projection applies events as the hub's does, the client splits the hub's coalesced messages, and
// resuming or falling back to the snapshot loses nothing.
func TestClientFollowsHub(t *testing.T) {
	node := requireNode(t)
	h, err := hub.New(hub.Config{HistorySize: conformanceHistory}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stream := &streamServer{hub: h, subs: make(map[*websocket.Conn]*hub.Subscription)}
	srv := httptest.NewServer(stream)
	defer func() {
		stream.drop(websocket.StatusGoingAway)
		stream.wait()
		srv.Close()
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	}()

	src := newEventSource(1)
	ingest(t, h, src.batch(src.snapshot()))
	f := startFollower(t, node, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws")
	f.waitStatus(t, "connected")

	rounds := []struct {
		name       string
		disconnect websocket.StatusCode // 0: stay connected
		missed     int                  // events ingested while the client cannot reconnect
		status     string               // the status the client must report on its return
	}{
		{name: "live events"},
		{name: "restart, few events missed: resume", disconnect: 1012, missed: 5, status: "resumed"},
		{name: "too slow, history exceeded: snapshot", disconnect: 4008, missed: 3 * conformanceHistory, status: "snapshot"},
		{name: "new epoch while connected"},
		{name: "restart, nothing missed: resume", disconnect: 1012, status: "resumed"},
		{name: "try again later, history exceeded: snapshot", disconnect: 1013, missed: conformanceHistory + 1, status: "snapshot"},
	}
	for _, r := range rounds {
		t.Run(r.name, func(t *testing.T) {
			if r.disconnect != 0 {
				stream.setRefusing(true)
				stream.drop(r.disconnect)
				ingestRandom(t, h, src, r.missed)
				stream.setRefusing(false)
				f.waitStatus(t, r.status)
			}
			if strings.Contains(r.name, "new epoch") {
				src.newEpoch()
				ingest(t, h, src.batch(src.snapshot()))
			}
			ingestRandom(t, h, src, 60)
			f.check(t, h)
		})
	}
}

// ingestRandom ingests n random events in batches of 1 to 8, as the worker delivers them.
func ingestRandom(t *testing.T, h *hub.Hub, src *eventSource, n int) {
	t.Helper()
	for n > 0 {
		k := min(n, 1+src.rng.IntN(8))
		events := make([]event.Event, k)
		for i := range events {
			events[i] = src.random()
		}
		ingest(t, h, src.batch(events...))
		n -= k
	}
}

func ingest(t *testing.T, h *hub.Hub, b *event.Batch) {
	t.Helper()
	if err := b.Validate(event.DefaultMaxBatchEvents); err != nil {
		t.Fatalf("generated an invalid batch: %v", err)
	}
	if _, err := h.Ingest(context.Background(), b); err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

// streamServer serves the hub's stream the way coven_ws does, minus authentication (which the edge's
// own tests cover): the first message's resume position decides the hello, and {"type":"ping"} is
// answered in order with the events.
type streamServer struct {
	hub     *hub.Hub
	mu      sync.Mutex
	refuse  bool
	subs    map[*websocket.Conn]*hub.Subscription
	serving sync.WaitGroup
}

func (s *streamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	refuse := s.refuse
	if !refuse {
		s.serving.Add(1)
	}
	s.mu.Unlock()
	if refuse {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	defer s.serving.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	_, data, err := c.Read(ctx)
	if err != nil {
		return
	}
	var auth struct {
		Type   string          `json:"type"`
		Token  string          `json:"token"`
		Resume *event.Position `json:"resume"`
	}
	if err := json.Unmarshal(data, &auth); err != nil || auth.Type != "auth" {
		c.Close(websocket.StatusPolicyViolation, "bad_message")
		return
	}
	sub, err := s.hub.Subscribe(auth.Resume, hubConn{c})
	if err != nil {
		c.Close(websocket.StatusTryAgainLater, "unavailable")
		return
	}
	s.mu.Lock()
	s.subs[c] = sub
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, c)
		s.mu.Unlock()
		sub.Close()
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if string(data) == `{"type":"ping"}` {
			_ = sub.Send([]byte(`{"type":"pong"}`))
		}
	}
}

func (s *streamServer) setRefusing(refuse bool) {
	s.mu.Lock()
	s.refuse = refuse
	s.mu.Unlock()
}

// drop ends every stream with code. No event ingested after it returns reaches those streams.
func (s *streamServer) drop(code websocket.StatusCode) {
	s.mu.Lock()
	subs := make(map[*websocket.Conn]*hub.Subscription, len(s.subs))
	for c, sub := range s.subs {
		subs[c] = sub
	}
	s.mu.Unlock()
	for c, sub := range subs {
		sub.Close()
		c.Close(code, "conformance test")
	}
}

func (s *streamServer) wait() { s.serving.Wait() }

// hubConn is the hub's view of one socket, as in coven_ws.
type hubConn struct{ c *websocket.Conn }

func (w hubConn) Write(ctx context.Context, msg []byte) error {
	return w.c.Write(ctx, websocket.MessageText, msg)
}

func (w hubConn) Close(code int, reason string) { w.c.Close(websocket.StatusCode(code), reason) }

// follower is the Node process running testsupport/follow-stream.js.
type follower struct {
	stdin    io.WriteCloser
	statuses chan string
	states   chan followerState
}

type followerState struct {
	Position *event.Position   `json:"position"`
	Rooms    []event.RoomState `json:"rooms"`
	Discord  string            `json:"discord"`
	Status   string            `json:"status"`
	Error    string            `json:"error"`
}

// followerWait bounds every wait for the follower.
const followerWait = 15 * time.Second

func startFollower(t *testing.T, node, url string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "testsupport/follow-stream.js", url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &follower{stdin: stdin, statuses: make(chan string, 1000), states: make(chan followerState, 1)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var st followerState
			if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
				f.states <- followerState{Error: fmt.Sprintf("bad output line %q: %v", sc.Text(), err)}
				continue
			}
			if st.Status != "" {
				f.statuses <- st.Status
				continue
			}
			f.states <- st
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the follower exits when its input ends
		select {
		case <-read:
		case <-time.After(followerWait):
			cancel()
			<-read
		}
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Errorf("follower: %v\n%s", err, stderr.String())
		}
		cancel()
	})
	return f
}

// waitStatus waits until the client reports status, skipping the others (reconnecting...).
func (f *follower) waitStatus(t *testing.T, status string) {
	t.Helper()
	timeout := time.After(followerWait)
	var seen []string
	for {
		select {
		case s := <-f.statuses:
			if s == status {
				return
			}
			seen = append(seen, s)
		case <-timeout:
			t.Fatalf("no status %q within %v; saw %v", status, followerWait, seen)
		}
	}
}

// check waits until the client has applied the hub's last event and compares their states.
func (f *follower) check(t *testing.T, h *hub.Hub) {
	t.Helper()
	pos, want := h.Snapshot()
	if _, err := fmt.Fprintf(f.stdin, "%s %d\n", pos.Epoch, pos.Seq); err != nil {
		t.Fatal(err)
	}
	var got followerState
	select {
	case got = <-f.states:
	case <-time.After(followerWait):
		t.Fatalf("the follower did not answer within %v", followerWait)
	}
	if got.Error != "" {
		t.Fatalf("follower: %s", got.Error)
	}
	if !reflect.DeepEqual(got.Rooms, want.Rooms) {
		gotJSON, _ := json.MarshalIndent(got.Rooms, "", " ")
		wantJSON, _ := json.MarshalIndent(want.Rooms, "", " ")
		t.Fatalf("at %v the client holds\n%s\nbut the hub holds\n%s", pos, gotJSON, wantJSON)
	}
	if d := h.Health().Discord; got.Discord != d {
		t.Errorf("the client says Discord is %q, the hub %q", got.Discord, d)
	}
}
