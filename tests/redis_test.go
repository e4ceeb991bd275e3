package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// redisPassword guards the tests' redis-server; no edge may log it or show it in health.
const redisPassword = "redis-password-that-must-never-be-logged"

// cluster is a redis-server and an identity provider that edges started with start share.
type cluster struct {
	t     *testing.T
	redis *redistest.Server
	idp   *authtest.Server
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	return &cluster{t: t, redis: redistest.Start(t, "--requirepass", redisPassword), idp: authtest.NewTestServer(t)}
}

// start starts an edge with the Redis broker; extra holds more lines of the broker's block.
func (c *cluster) start(extra string) *stack {
	c.t.Helper()
	cfg := edgetest.Config{
		Bin: caddyBin, JWKSURL: c.idp.JWKSURL(), Issuer: c.idp.Issuer.URL(),
		Global: "broker redis {env.REDIS_URL} {\n" + extra + "\n}",
		Env:    []string{fmt.Sprintf("REDIS_URL=redis://:%s@%s/0", redisPassword, c.redis.Addr())},
	}
	return &stack{idp: c.idp.Issuer, edge: edgetest.Start(c.t, cfg)}
}

// postRetrying posts a batch as the worker delivers it: a 503 is tried again, for at most 15 s. It
// returns the final answer.
func postRetrying(t *testing.T, e *edgetest.Edge, body []byte) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, resp := e.Post(body)
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return code, resp
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustPost(t *testing.T, e *edgetest.Edge, body []byte, want string) {
	t.Helper()
	code, resp := postRetrying(t, e, body)
	if code != http.StatusOK || (want != "" && string(resp) != want+"\n") {
		t.Fatalf("ingest: %d %s, want 200 %s", code, resp, want)
	}
}

// expectStatus reads the next frame and checks it is the edge's broker status.
func expectStatus(t *testing.T, c *edgetest.Client, broker string) {
	t.Helper()
	f := c.Next(10 * time.Second)
	var st struct {
		Type, Broker string
	}
	if err := json.Unmarshal(f.Raw, &st); err != nil || st.Type != "status" || st.Broker != broker {
		t.Fatalf("frame %s, want {\"type\":\"status\",\"broker\":%q}", f.Raw, broker)
	}
}

func TestRedisWebhookToEitherEdgeReachesClientsOfBothOnce(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(""), c.start("")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)

	var clients []*edgetest.Client
	for i, s := range []*stack{a, b, a, b} {
		// Resuming from before the seed gets it whether this edge applied it already (from the history)
		// or not yet (live).
		cl, _ := s.connect(t, fmt.Sprintf("user-%d", i), &event.Position{Epoch: "ep1", Seq: 0})
		cl.ExpectEvents(1, 1, 5*time.Second)
		clients = append(clients, cl)
	}
	first := []event.Event{joinEvent(t, batches, 1), joinEvent(t, batches, 2)}
	mustPost(t, a.edge, edgetest.EncodeBatch(t, "ep1", first...), `{"applied":2,"skipped":0}`)
	second := []event.Event{joinEvent(t, batches, 3)}
	mustPost(t, b.edge, edgetest.EncodeBatch(t, "ep1", second...), `{"applied":1,"skipped":0}`)
	// The worker retrying the first batch through the other edge is acknowledged, not applied again.
	mustPost(t, b.edge, edgetest.EncodeBatch(t, "ep1", first...), `{"applied":0,"skipped":2}`)
	for _, cl := range clients {
		cl.ExpectEvents(2, 3, 5*time.Second)
	}
	for _, cl := range clients {
		cl.Quiet(300 * time.Millisecond)
	}

	// A reload that keeps the same broker keeps the clients and the stream.
	cfg := a.edge.Cfg
	cfg.Site = "respond /reloaded 204"
	a.edge.Reload(cfg)
	mustPost(t, b.edge, edgetest.EncodeBatch(t, "ep1", joinEvent(t, batches, 4)), `{"applied":1,"skipped":0}`)
	for _, cl := range clients {
		cl.ExpectEvents(5, 1, 5*time.Second)
	}
}

func TestRedisClientResumesOnAnotherEdgeAfterItsEdgeIsKilled(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(""), c.start("")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)
	cl, _ := a.connect(t, "alice", nil)
	mustPost(t, a.edge, edgetest.EncodeBatch(t, "ep1", joinEvent(t, batches, 1)), "")
	last := cl.ExpectEvents(2, 1, 5*time.Second)[0]

	a.edge.Stop(syscall.SIGKILL)
	var missed []event.Event
	for i := 2; i <= 6; i++ {
		missed = append(missed, joinEvent(t, batches, i))
	}
	mustPost(t, b.edge, edgetest.EncodeBatch(t, "ep1", missed...), `{"applied":5,"skipped":0}`)

	again, hello := b.connect(t, "alice", &event.Position{Epoch: last.Epoch, Seq: last.Seq})
	if !hello.Resumed || hello.Snapshot != nil || hello.Seq != last.Seq {
		t.Fatalf("hello on the other edge = %s, want resumed at %d", hello.Raw, last.Seq)
	}
	again.ExpectEvents(3, 5, 5*time.Second)
	again.Quiet(300 * time.Millisecond)
}

func TestRedisRestartMidStreamLosesNothing(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("checkpoint_interval 4"), c.start("checkpoint_interval 4")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)
	onA, _ := a.connect(t, "alice", &event.Position{Epoch: "ep1", Seq: 0})
	onB, _ := b.connect(t, "bob", &event.Position{Epoch: "ep1", Seq: 0})
	const batchesTotal, perBatch = 12, 3
	next := 1
	for i := 0; i < batchesTotal; i++ {
		if i == batchesTotal/2 {
			c.redis.Restart() // empty: no persistence
		}
		var evs []event.Event
		for j := 0; j < perBatch; j++ {
			evs = append(evs, joinEvent(t, batches, next))
			next++
		}
		via := []*stack{a, b}[i%2]
		mustPost(t, via.edge, edgetest.EncodeBatch(t, "ep1", evs...), fmt.Sprintf(`{"applied":%d,"skipped":0}`, perBatch))
	}
	for name, cl := range map[string]*edgetest.Client{"a": onA, "b": onB} {
		seq := uint64(1)
		for seq <= batchesTotal*perBatch+1 {
			f := cl.Next(10 * time.Second)
			if f.Type == "status" || f.Type == "hello" {
				continue // the outage may be told
			}
			if f.Seq != seq {
				t.Fatalf("client of %s got %s at seq %d, want seq %d", name, f.Type, f.Seq, seq)
			}
			seq++
		}
		cl.Quiet(300 * time.Millisecond)
	}
	// An edge started after the restart serves the same state.
	late := c.start("checkpoint_interval 4")
	_, lateHello := late.connect(t, "carol", nil)
	_, aHello := a.connect(t, "dave", nil)
	if lateHello.Seq != aHello.Seq || string(*lateHello.Snapshot) != string(*aHello.Snapshot) {
		t.Fatalf("late edge: %s\nfirst edge: %s", lateHello.Raw, aHello.Raw)
	}
	// What the Redis client said about the restart is in Caddy's JSON log, not between its lines.
	for name, s := range map[string]*stack{"a": a, "b": b} {
		for _, line := range strings.Split(s.edge.Logs.String(), "\n") {
			if line != "" && !json.Valid([]byte(line)) {
				t.Errorf("edge %s logged a line that is not JSON: %s", name, line)
			}
		}
	}
}

func TestRedisLateEdgeServesTheCorrectSnapshot(t *testing.T) {
	c := newCluster(t)
	a := c.start("checkpoint_interval 5")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)
	for i := 1; i <= 23; i++ {
		evs := []event.Event{joinEvent(t, batches, i)}
		if i%4 == 0 {
			evs = append(evs, batches.Event(t, event.VoiceLeft, event.VoiceLeftPayload{RoomID: roomID, UserID: member(i - 2).UserID}))
		}
		mustPost(t, a.edge, edgetest.EncodeBatch(t, "ep1", evs...), "")
	}
	late := c.start("checkpoint_interval 5")
	_, lateHello := late.connect(t, "alice", nil)
	_, aHello := a.connect(t, "bob", nil)
	if lateHello.Seq != batches.Next || lateHello.Seq != aHello.Seq || string(*lateHello.Snapshot) != string(*aHello.Snapshot) {
		t.Fatalf("late edge: %s\nfirst edge: %s", lateHello.Raw, aHello.Raw)
	}
	var snap event.SnapshotPayload
	if err := json.Unmarshal(*lateHello.Snapshot, &snap); err != nil || len(snap.Rooms) != 1 || len(snap.Rooms[0].Members) != 23-5 {
		t.Fatalf("late edge's snapshot: %s (%v), want one room with 18 members", *lateHello.Snapshot, err)
	}
	// A client resumes on the late edge from before it started.
	cl, hello := late.connect(t, "carol", &event.Position{Epoch: "ep1", Seq: 10})
	if !hello.Resumed {
		t.Fatalf("resume on the late edge: %s", hello.Raw)
	}
	cl.ExpectEvents(11, int(batches.Next-10), 5*time.Second)
}

func TestRedisDownRefusesEventsAndTellsClients(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(""), c.start("")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)
	onA, _ := a.connect(t, "alice", &event.Position{Epoch: "ep1", Seq: 0})
	onB, _ := b.connect(t, "bob", &event.Position{Epoch: "ep1", Seq: 0})
	onA.ExpectEvents(1, 1, 5*time.Second)
	onB.ExpectEvents(1, 1, 5*time.Second)

	c.redis.Stop()
	expectStatus(t, onA, "unavailable")
	expectStatus(t, onB, "unavailable")
	pending := edgetest.EncodeBatch(t, "ep1", joinEvent(t, batches, 1), joinEvent(t, batches, 2))
	if code, body := a.edge.Post(pending); code != http.StatusServiceUnavailable {
		t.Fatalf("ingest with Redis down: %d %s, want 503", code, body)
	}
	var health struct {
		Status string
		Broker struct {
			OK    bool
			Error string
		}
	}
	req, _ := http.NewRequest(http.MethodGet, b.edge.URL("/healthz"), nil)
	code, body := edgetest.Do(t, req)
	if err := json.Unmarshal(body, &health); err != nil || code != http.StatusServiceUnavailable || health.Broker.OK || !strings.Contains(health.Broker.Error, c.redis.Addr()) {
		t.Fatalf("health during the outage: %d %s", code, body)
	}
	if strings.Contains(string(body), redisPassword) {
		t.Fatal("health shows the Redis password")
	}
	// A client connecting meanwhile is served what the edge holds, and told.
	during, hello := b.connect(t, "carol", nil)
	if hello.Seq != 1 {
		t.Fatalf("hello during the outage: %s", hello.Raw)
	}
	expectStatus(t, during, "unavailable")

	c.redis.Restart()
	for _, cl := range []*edgetest.Client{onA, onB, during} {
		expectStatus(t, cl, "ok")
	}
	mustPost(t, b.edge, pending, `{"applied":2,"skipped":0}`)
	for _, cl := range []*edgetest.Client{onA, onB, during} {
		cl.ExpectEvents(2, 2, 5*time.Second)
		cl.Quiet(200 * time.Millisecond)
	}
	for name, s := range map[string]*stack{"a": a, "b": b} {
		got := s.edge.Get("/healthz")
		var after struct{ Broker struct{ OK bool } }
		if err := json.Unmarshal([]byte(got), &after); err != nil || !after.Broker.OK || strings.Contains(got, redisPassword) {
			t.Errorf("health of %s after recovery: %s", name, got)
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/config/", s.edge.AdminPort), nil)
		if _, cfg := edgetest.Do(t, req); !strings.Contains(string(cfg), "{env.REDIS_URL}") || strings.Contains(string(cfg), redisPassword) {
			t.Errorf("the config that the admin API of %s serves: %s", name, cfg)
		}
		s.edge.Stop(syscall.SIGTERM)
		if strings.Contains(s.edge.Logs.String(), redisPassword) {
			t.Errorf("the logs of %s show the Redis password", name)
		}
	}
}

// edgePosition reads an edge's position from its detailed health document.
func edgePosition(t *testing.T, s *stack) (event.Position, bool) {
	t.Helper()
	var rep struct {
		Broker   struct{ OK bool }
		Position event.Position
	}
	if err := json.Unmarshal([]byte(get(t, s.edge.URL("/healthz"))), &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Position, rep.Broker.OK
}

// TestRedisBackEmptyTheEdgeAheadWins: Redis comes back empty while one edge is behind the other (at 7
// of 11). The edge behind writes its state back first; the edge ahead must not rewind to it (taking back events
// the worker was told were applied) but write its own over it: the highest position wins, and every
// edge and client goes on from there.
func TestRedisBackEmptyTheEdgeAheadWins(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(""), c.start("")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)
	next := 1
	post := func(via *stack, n int) {
		t.Helper()
		var evs []event.Event
		for range n {
			evs = append(evs, joinEvent(t, batches, next))
			next++
		}
		mustPost(t, via.edge, edgetest.EncodeBatch(t, "ep1", evs...), "")
	}
	post(a, 5) // seq 2..6
	onA, _ := a.connect(t, "alice", &event.Position{Epoch: "ep1", Seq: 1})
	onA.ExpectEvents(2, 5, 10*time.Second)
	waitUntil(t, "edge b at seq 6", func() bool { p, _ := edgePosition(t, b); return p.Seq == 6 })

	// b stops reading; a goes on to seq 11.
	stop := func(s *stack) {
		if err := syscall.Kill(s.edge.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(s.edge.Pid(), syscall.SIGCONT) })
	}
	resume := func(s *stack) {
		if err := syscall.Kill(s.edge.Pid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	stop(b)
	// One event per post: b's blocked read (its request was in flight when it stopped) receives the
	// first of them, not the rest, so b is behind at 7 when Redis goes away.
	for range 5 {
		post(a, 1) // seq 7..11
	}
	onA.ExpectEvents(7, 5, 10*time.Second)

	// Redis goes away while a is paused, and comes back empty; b, behind, notices first and writes its
	// state back.
	stop(a)
	c.redis.Stop()
	resume(b)
	waitUntil(t, "edge b noticing Redis is gone", func() bool {
		return strings.Contains(b.edge.Logs.String(), "lost Redis")
	})
	c.redis.Start()
	defer func() {
		if t.Failed() {
			t.Logf("edge b:\n%s\nedge a:\n%s", tail(b.edge.Logs.String(), 6000), tail(a.edge.Logs.String(), 3000))
		}
	}()
	waitUntil(t, "edge b writing its state back", func() bool {
		return strings.Contains(b.edge.Logs.String(), "wrote this instance's state to it")
	})
	resume(a)

	// a, at 11, wins: both edges end at 11 and a's client is neither closed nor rewound.
	waitUntil(t, "both edges at seq 11", func() bool {
		pa, okA := edgePosition(t, a)
		pb, okB := edgePosition(t, b)
		return okA && okB && pa.Seq == 11 && pb.Seq == 11
	})
	post(b, 1) // seq 12, through the edge that was behind
	for {
		f := onA.Next(10 * time.Second)
		if f.Type == "status" {
			continue // the outage may be told
		}
		if f.Type == "hello" || f.Seq != 12 {
			t.Fatalf("edge a's client after Redis came back: %s, want the event at seq 12", f.Raw)
		}
		break
	}
	if _, hello := b.connect(t, "bob", &event.Position{Epoch: "ep1", Seq: 11}); !hello.Resumed || hello.Seq != 11 {
		t.Fatalf("a client resuming at 11 on edge b: %s", hello.Raw)
	}
}

// waitUntil polls cond every 20 ms for at most 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// TestRedisRestartedWhileTheEdgeIsPaused: Redis restarts empty while the edge is paused, so the edge
// never sees it go away (its blocked read is retried on a fresh connection to the new server, which
// simply has nothing new). The edge still notices, when the read comes back empty-handed, and writes
// its state back: the worker's next batch continues, with no snapshot needed.
func TestRedisRestartedWhileTheEdgeIsPaused(t *testing.T) {
	c := newCluster(t)
	a := c.start("")
	batches := &edgetest.Batches{Epoch: "ep1"}
	a.seed(t, batches)
	mustPost(t, a.edge, edgetest.EncodeBatch(t, "ep1", joinEvent(t, batches, 1), joinEvent(t, batches, 2)), "")
	waitUntil(t, "the edge at seq 3", func() bool { p, _ := edgePosition(t, a); return p.Seq == 3 })

	if err := syscall.Kill(a.edge.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(a.edge.Pid(), syscall.SIGCONT) })
	c.redis.Restart()
	if err := syscall.Kill(a.edge.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the edge writing its state back", func() bool {
		return strings.Contains(a.edge.Logs.String(), "wrote this instance's state to it")
	})
	code, body := postRetrying(t, a.edge, edgetest.EncodeBatch(t, "ep1", joinEvent(t, batches, 3)))
	if code != http.StatusOK {
		t.Fatalf("the next batch after Redis restarted: %d %s, want it applied", code, body)
	}
}
