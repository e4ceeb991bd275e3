package tests

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// Load of BenchmarkFanoutAcrossEdges: the same in every scenario.
const (
	fanoutClients = 200 // per scenario, spread evenly over its edges
	fanoutRate    = 100 // events per second, one per webhook batch
	fanoutBlock   = 100 // events posted to one scenario before the next takes its turn
)

// BenchmarkFanoutAcrossEdges measures what sharing events through Redis costs: the same clients and
// the same events per second on one edge with the memory broker, on one edge with Redis, and on two
// edges sharing Redis (clients split between them, batches posted to each in turn, as a load balancer
// would). The three run side by side and take turns, fanoutBlock events at a time, so that whatever
// else loads the machine weighs on each alike. Each iteration is one event per scenario; latency runs
// from the start of the webhook post to a client's receipt of the frame, over every delivery. Run it
// with a fixed count:
//
//	go test -run '^$' -bench FanoutAcrossEdges -benchtime 1000x ./tests/
func BenchmarkFanoutAcrossEdges(b *testing.B) {
	idp := authtest.NewTestServer(b)
	srv := redistest.Start(b)
	scenarios := []*fanoutScenario{
		newFanoutScenario(b, idp, "memory", 1, ""),
		newFanoutScenario(b, idp, "redis", 1, srv.URL()),
		newFanoutScenario(b, idp, "redis2", 2, srv.URL()),
	}
	tick := time.NewTicker(time.Second / fanoutRate)
	defer tick.Stop()
	b.ResetTimer()
	for from := 0; from < b.N; from += fanoutBlock {
		for _, sc := range scenarios {
			for i := from; i < min(from+fanoutBlock, b.N); i++ {
				<-tick.C
				sc.post(b, i)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, sc := range scenarios {
		for _, c := range sc.clients {
			if err := c.wait(time.Until(deadline)); err != nil {
				b.Fatalf("%s: %v", sc.name, err)
			}
		}
	}
	b.StopTimer()
	p99 := map[string]float64{}
	for _, sc := range scenarios {
		p50, p99s, rate := sc.results()
		p99[sc.name] = p99s
		b.ReportMetric(p50, sc.name+"-p50-ms")
		b.ReportMetric(p99s, sc.name+"-p99-ms")
		b.ReportMetric(rate, sc.name+"-deliveries/s")
	}
	b.ReportMetric(p99["redis2"]-p99["memory"], "redis-hop-p99-ms")
}

// fanoutScenario is a set of edges with their clients, and the events posted to them.
type fanoutScenario struct {
	name    string
	edges   []*edgetest.Edge
	clients []*benchClient
	bodies  [][]byte
	postAt  []int64 // unix nanoseconds, by event
}

// newFanoutScenario starts edges sharing the Redis at redisURL (the memory broker when empty), seeds
// them and connects fanoutClients clients.
func newFanoutScenario(b *testing.B, idp *authtest.Server, name string, edges int, redisURL string) *fanoutScenario {
	b.Helper()
	cfg := edgetest.Config{
		Bin: caddyBin, JWKSURL: idp.JWKSURL(), Issuer: idp.Issuer.URL(),
		LogLevel: "ERROR", NoAccessLog: true, NoHTTPMetrics: true,
	}
	if redisURL != "" {
		cfg.Global = "broker redis {env.REDIS_URL} {\n key_prefix " + name + ":\n}"
		cfg.Env = []string{"REDIS_URL=" + redisURL}
	}
	sc := &fanoutScenario{name: name, postAt: make([]int64, b.N)}
	for range edges {
		sc.edges = append(sc.edges, edgetest.Start(b, cfg))
	}
	batches := &edgetest.Batches{Epoch: name}
	snap := batches.Event(b, event.Snapshot, event.SnapshotPayload{Rooms: []event.RoomState{{
		Room: event.Room{ID: roomID, Name: "Table 1"}, Members: []event.Member{},
	}}})
	if code, body := sc.edges[0].Post(edgetest.EncodeBatch(b, name, snap)); code != http.StatusOK {
		b.Fatalf("seeding %s: %d %s", name, code, body)
	}
	for i := range b.N {
		e := batches.Event(b, event.RoomUpdated, event.RoomPayload{Room: event.Room{ID: roomID, Name: fmt.Sprintf("Table %d", i)}})
		sc.bodies = append(sc.bodies, edgetest.EncodeBatch(b, name, e))
	}
	const firstSeq = 2 // the snapshot is seq 1
	for i := range fanoutClients {
		tok, err := idp.Issuer.MintFor(fmt.Sprintf("bench-%s-%d", name, i), edgetest.Audience, time.Hour, nil)
		if err != nil {
			b.Fatal(err)
		}
		sc.clients = append(sc.clients, dialBenchClient(b, sc.edges[i%edges], tok, firstSeq, b.N))
	}
	return sc
}

// post posts event i to the scenario's edges in turn.
func (sc *fanoutScenario) post(b *testing.B, i int) {
	sc.postAt[i] = time.Now().UnixNano()
	if code, body := sc.edges[i%len(sc.edges)].Post(sc.bodies[i]); code != http.StatusOK {
		b.Fatalf("%s: post %d: %d %s", sc.name, i, code, body)
	}
}

// results returns the median and 99th percentile latency in milliseconds over every delivery, and the
// deliveries per second during the scenario's turns: from the first post of a turn to the last receipt
// of its events.
func (sc *fanoutScenario) results() (p50, p99, perSecond float64) {
	latencies := make([]time.Duration, 0, len(sc.postAt)*len(sc.clients))
	var busy time.Duration
	for from := 0; from < len(sc.postAt); from += fanoutBlock {
		to := min(from+fanoutBlock, len(sc.postAt))
		var last int64
		for _, c := range sc.clients {
			for i := from; i < to; i++ {
				latencies = append(latencies, time.Duration(c.arrivals[i]-sc.postAt[i]))
				last = max(last, c.arrivals[i])
			}
		}
		busy += time.Duration(last - sc.postAt[from])
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	return pct(0.50), pct(0.99), float64(len(latencies)) / busy.Seconds()
}

// benchClient is a stream client that records when each event arrives, and nothing else, so that the
// measurement costs the machine as little as possible.
type benchClient struct {
	conn     *websocket.Conn
	firstSeq uint64
	arrivals []int64 // unix nanoseconds, by seq - firstSeq
	received atomic.Int64
	done     chan struct{}
	mu       sync.Mutex
	err      error
}

func dialBenchClient(b *testing.B, e *edgetest.Edge, token string, firstSeq uint64, events int) *benchClient {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, e.WSURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {edgetest.Origin}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.CloseNow() })
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"`+token+`"}`)); err != nil {
		b.Fatal(err)
	}
	if _, hello, err := conn.Read(ctx); err != nil || !bytes.HasPrefix(hello, []byte(`{"type":"hello"`)) {
		b.Fatalf("hello: %s %v", hello, err)
	}
	c := &benchClient{conn: conn, firstSeq: firstSeq, arrivals: make([]int64, events), done: make(chan struct{})}
	go c.read()
	return c
}

func (c *benchClient) read() {
	want := int64(len(c.arrivals))
	for {
		_, msg, err := c.conn.Read(context.Background())
		if err != nil {
			c.fail(err)
			return
		}
		now := time.Now().UnixNano()
		for part := range bytes.SplitSeq(msg, []byte{'\n'}) {
			seq, ok := frameSeq(part)
			if !ok {
				continue // not an event
			}
			i := seq - c.firstSeq
			if seq < c.firstSeq || i >= uint64(len(c.arrivals)) || c.arrivals[i] != 0 {
				c.fail(fmt.Errorf("unexpected or repeated event seq %d", seq))
				return
			}
			c.arrivals[i] = now
			if c.received.Add(1) == want {
				close(c.done)
			}
		}
	}
}

// frameSeq returns the seq of an event frame, whose envelope starts {"v":1,"epoch":"...","seq":N.
func frameSeq(frame []byte) (uint64, bool) {
	if !bytes.HasPrefix(frame, []byte(`{"v":`)) {
		return 0, false
	}
	i := bytes.Index(frame, []byte(`"seq":`))
	if i < 0 {
		return 0, false
	}
	rest := frame[i+len(`"seq":`):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return seq, err == nil
}

func (c *benchClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// wait waits until every event arrived, or the client failed, or d passed.
func (c *benchClient) wait(d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.done:
		return nil
	case <-timer.C:
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Errorf("a client received %d of %d events (%v)", c.received.Load(), len(c.arrivals), c.err)
	}
}
