package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/spellcoven/gateway/event"
)

// streamChecker is a Conn that checks, as frames arrive, the stream contract: one hello, then events
// each following the previous by one seq (or a snapshot, which may skip ahead), none missed, none twice.
type streamChecker struct {
	resume *event.Position

	mu     sync.Mutex
	last   event.Position // last position the stream brought the client to
	frames int
	err    error
	closed bool
}

func (c *streamChecker) Write(_ context.Context, msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, part := range splitFrames(msg) {
		f, err := parseFrame(part)
		if err != nil {
			c.fail("%v", err)
			continue
		}
		c.frames++
		switch {
		case c.frames == 1 && f.Type != "hello":
			c.fail("first frame %v is not a hello", f)
		case c.frames == 1 && f.Resumed && (c.resume == nil || f.Epoch != c.resume.Epoch || f.Seq != c.resume.Seq):
			c.fail("resumed hello %v does not match the resume position %v", f, c.resume)
		case c.frames == 1:
			c.last = event.Position{Epoch: f.Epoch, Seq: f.Seq}
		case f.Type == "hello":
			c.fail("second hello %v", f)
		case f.Epoch == c.last.Epoch && f.Seq == c.last.Seq+1, f.Type == string(event.Snapshot) && f.Seq > c.last.Seq:
			c.last = event.Position{Epoch: f.Epoch, Seq: f.Seq}
		default:
			c.fail("event %v after %v", f, c.last)
		}
	}
	return nil
}

func (c *streamChecker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

func (c *streamChecker) Close(int, string) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func (c *streamChecker) state() (event.Position, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.err, c.closed
}

func splitFrames(msg []byte) [][]byte {
	var out [][]byte
	for len(msg) > 0 {
		i := 0
		for i < len(msg) && msg[i] != '\n' {
			i++
		}
		out = append(out, msg[:i])
		if i == len(msg) {
			break
		}
		msg = msg[i+1:]
	}
	return out
}

// TestConcurrentIngestAndSubscribe ingests while clients keep connecting, resuming from where their
// previous connection stopped, and checks that every stream is gapless and free of duplicates.
func TestConcurrentIngestAndSubscribe(t *testing.T) {
	const (
		events  = 1500
		clients = 6
		rounds  = 8
	)
	h := startHub(t, Config{HistorySize: 200, QueueLength: events, Shards: 2}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))

	var all []event.Event
	for seq := uint64(2); seq <= events; seq++ {
		if seq == events/2 {
			// A snapshot that skips ahead within the epoch breaks resumption across it.
			all = append(all, snapshotEvent(t, "e1", seq+100))
			continue
		}
		next := seq
		if seq > events/2 {
			next += 100
		}
		all = append(all, roomEvents(t, "e1", next, next)...)
	}
	final := all[len(all)-1].Position()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the ingest side, in batches of 1-5 with some replays
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < len(all); {
			n := min(1+rng.IntN(5), len(all)-i)
			for j := i + 1; j < i+n; j++ {
				if all[j].Type == event.Snapshot {
					n = j - i // the skip ahead starts a batch of its own
				}
			}
			from := i
			if i > 0 && rng.IntN(4) == 0 && all[i-1].Type != event.Snapshot && all[i].Type != event.Snapshot {
				from = i - 1 // overlap with the previous batch
			}
			if _, err := h.Ingest(context.Background(), batchOf(all[from:i+n]...)); err != nil {
				t.Errorf("ingest at %v: %v", all[from].Position(), err)
				return
			}
			i += n
		}
	}()
	lasts := make([]*streamChecker, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var resume *event.Position
			for round := range rounds {
				c := &streamChecker{resume: resume}
				s, err := h.Subscribe(resume, c)
				if err != nil {
					t.Error(err)
					return
				}
				if round == rounds-1 {
					lasts[i] = c // stays connected to the end
					return
				}
				// Stay for a while, leave, and come back from where this connection got to.
				for range 1 + rng.IntN(50) {
					if pos, _, _ := c.state(); pos == final {
						break
					}
					runtimeYield()
				}
				s.Close()
				pos, err, _ := c.state()
				if err != nil {
					t.Errorf("client %d round %d: %v", i, round, err)
					return
				}
				if !pos.IsZero() {
					resume = &pos
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range lasts {
		if c == nil {
			continue
		}
		waitFor(t, fmt.Sprintf("client %d to reach %v", i, final), func() bool {
			pos, err, _ := c.state()
			return pos == final || err != nil
		})
		if _, err, closed := c.state(); err != nil || closed {
			t.Errorf("client %d: err %v, closed %v", i, err, closed)
		}
	}
	if st := h.Stats(); st.Evicted != 0 {
		t.Errorf("%d subscribers evicted", st.Evicted)
	}
}
