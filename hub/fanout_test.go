package hub

import (
	"bytes"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSlowSubscriberIsEvictedWithoutDelayingOthers(t *testing.T) {
	h := startHub(t, Config{QueueLength: 8, Shards: 2}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))

	slow := newGatedConn()               // its socket never drains
	slow.closeWait = make(chan struct{}) // and its close handshake hangs until the end of the test
	defer close(slow.closeWait)
	subscribe(t, h, nil, slow)
	slow.waitInWrite(t)
	fast := make([]*testConn, 3)
	for i := range fast {
		fast[i] = newTestConn()
		subscribe(t, h, nil, fast[i])
	}

	// Each event reaches the subscribers that keep up before the next is sent, while the slow one
	// is stuck, then evicted, then stuck in its close.
	const events = 40 // far more than the slow queue holds
	for seq := uint64(2); seq < 2+events; seq++ {
		mustIngest(t, h, roomEvents(t, "e1", seq, seq)...)
		for _, c := range fast {
			c.waitFrames(t, int(seq))
		}
	}
	for i, c := range fast {
		if got := seqs(c.waitFrames(t, 1+events)[1:]); !reflect.DeepEqual(got, seqRange(2, 1+events)) {
			t.Errorf("fast subscriber %d got %v", i, got)
		}
	}
	if code, reason := slow.waitClosed(t); code != CloseTooSlow || reason != "too slow" {
		t.Errorf("slow subscriber closed with %d %q, want %d %q", code, reason, CloseTooSlow, "too slow")
	}
	st := h.Stats()
	if st.Evicted != 1 || st.Subscribers != 3 {
		t.Errorf("Evicted = %d, Subscribers = %d; want 1 and 3", st.Evicted, st.Subscribers)
	}
}

func TestQueueLengthBoundsFramesWaiting(t *testing.T) {
	tests := []struct {
		name        string
		queueLength int
		deliveries  int // single-event batches ingested while the subscriber's socket is stuck
		wantEvicted bool
	}{
		{"as many as the queue holds", 4, 4, false},
		{"one more than the queue holds", 4, 5, true},
		{"a larger queue holds them", 16, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHub(t, Config{QueueLength: tt.queueLength}, nil)
			mustIngest(t, h, snapshotEvent(t, "e1", 1))
			c := newGatedConn()
			s := subscribe(t, h, nil, c)
			c.waitInWrite(t) // the hello is in flight and stays there
			for seq := uint64(2); seq < uint64(2+tt.deliveries); seq++ {
				mustIngest(t, h, roomEvents(t, "e1", seq, seq)...)
			}
			if tt.wantEvicted {
				if code, _ := c.waitClosed(t); code != CloseTooSlow {
					t.Errorf("closed with %d, want %d", code, CloseTooSlow)
				}
				return
			}
			waitQueued(t, s, tt.deliveries)
			if _, _, closes := c.snapshot(); closes != 0 {
				t.Fatalf("subscriber closed although its queue held every frame")
			}
			c.release()
			if got := seqs(c.waitFrames(t, 1+tt.deliveries)); !reflect.DeepEqual(got, seqRange(2, uint64(1+tt.deliveries))) {
				t.Errorf("got events %v", got)
			}
		})
	}
}

func TestLargeBatchDoesNotEvictAClientThatKeepsUp(t *testing.T) {
	h := startHub(t, Config{QueueLength: 4}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	c := newTestConn()
	subscribe(t, h, nil, c)
	c.waitFrames(t, 1)
	mustIngest(t, h, roomEvents(t, "e1", 2, 101)...) // 100 events, one delivery
	if got := seqs(c.waitFrames(t, 101)); !reflect.DeepEqual(got, seqRange(2, 101)) {
		t.Errorf("got events %v", got)
	}
	if h.Stats().Evicted != 0 {
		t.Error("a client with an empty queue was evicted by one large batch")
	}
}

func TestWriteTimeoutEvicts(t *testing.T) {
	const timeout = 50 * time.Millisecond
	h := startHub(t, Config{WriteTimeout: timeout}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	stuck := newGatedConn()
	subscribe(t, h, nil, stuck)
	healthy := newTestConn()
	subscribe(t, h, nil, healthy)

	if code, reason := stuck.waitClosed(t); code != CloseTooSlow || reason != "too slow" {
		t.Errorf("closed with %d %q, want %d %q", code, reason, CloseTooSlow, "too slow")
	}
	stuck.mu.Lock()
	early := stuck.closedAt.Sub(stuck.writeAt) < timeout
	stuck.mu.Unlock()
	if early {
		t.Error("evicted before its write had lasted WriteTimeout")
	}
	mustIngest(t, h, roomEvents(t, "e1", 2, 2)...)
	healthy.waitFrames(t, 2)
	if _, _, closes := healthy.snapshot(); closes != 0 {
		t.Error("a subscriber whose writes complete was closed")
	}
	if h.Stats().Evicted != 1 {
		t.Errorf("Evicted = %d, want 1", h.Stats().Evicted)
	}
}

func TestFramesQueuedWhileWritingAreJoinedIntoOneMessage(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		events   int
		wantMsgs []int // frames per message after the hello's
	}{
		{"all waiting frames in one message", Config{}, 10, []int{10}},
		{"at most MaxCoalesce frames per message", Config{MaxCoalesce: 3}, 10, []int{3, 3, 3, 1}},
		{"MaxCoalesce 1 writes frames one by one", Config{MaxCoalesce: 1}, 3, []int{1, 1, 1}},
		// Each event frame is under 200 bytes: two fit in 400, three do not.
		{"at most MaxMessageBytes per message", Config{MaxMessageBytes: 400}, 5, []int{2, 2, 1}},
		{"a frame larger than MaxMessageBytes goes alone", Config{MaxMessageBytes: 10}, 3, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHub(t, tt.cfg, nil)
			mustIngest(t, h, snapshotEvent(t, "e1", 1))
			c := newGatedConn()
			s := subscribe(t, h, nil, c)
			c.waitInWrite(t) // the hello is being written: what follows waits
			for seq := uint64(2); seq < uint64(2+tt.events); seq++ {
				mustIngest(t, h, roomEvents(t, "e1", seq, seq)...)
			}
			waitQueued(t, s, tt.events)
			c.release()
			frames := c.waitFrames(t, 1+tt.events)
			if got := seqs(frames); !reflect.DeepEqual(got, seqRange(2, uint64(1+tt.events))) {
				t.Fatalf("events = %v", got)
			}
			msgs, _, _ := c.snapshot()
			var perMsg []int
			for _, m := range msgs[1:] {
				perMsg = append(perMsg, bytes.Count(m, []byte("\n"))+1)
				if tt.cfg.MaxMessageBytes > 0 && len(m) > tt.cfg.MaxMessageBytes && bytes.Contains(m, []byte("\n")) {
					t.Errorf("joined message of %d bytes exceeds MaxMessageBytes %d", len(m), tt.cfg.MaxMessageBytes)
				}
			}
			if !reflect.DeepEqual(perMsg, tt.wantMsgs) {
				t.Errorf("frames per message = %v, want %v", perMsg, tt.wantMsgs)
			}
			// The writer counts a message once Write has returned.
			waitFor(t, "stats to count every write", func() bool { return h.Stats().Messages == uint64(len(msgs)) })
			if st := h.Stats(); st.Delivered != uint64(1+tt.events) {
				t.Errorf("Delivered = %d, want %d", st.Delivered, 1+tt.events)
			}
		})
	}
}

// waitQueued waits until n frames wait in s's queue.
func waitQueued(t *testing.T, s *Subscription, n int) {
	t.Helper()
	waitFor(t, "frames queued", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.queue.frames == n
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// holder holds up the first WriteFrameNow that meets it once armed, until released: a worker
// descheduled, or slowed by its core, in the middle of a fan-out.
type holder struct {
	armed   atomic.Bool
	held    chan struct{} // closed when a write is held
	release chan struct{}
}

// holdConn is a frameConn whose WriteFrameNow may be held up by a holder.
type holdConn struct {
	*frameConn
	hold atomic.Pointer[holder]
}

func (c *holdConn) WriteFrameNow(frame []byte) (int, error) {
	if h := c.hold.Load(); h != nil && h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return c.frameConn.WriteFrameNow(frame)
}

// While one shard's worker is held up in a write, the worker of another shard, done with its own
// subscribers, delivers the rest of the held-up fan-out; every subscriber still gets every event
// once, in order.
func TestAFanoutIsSharedBetweenWorkers(t *testing.T) {
	h := startHub(t, Config{Shards: 2}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	const n = 4 * fanoutChunk // two chunks on each shard
	conns := make([]*holdConn, n)
	var onFirst []*holdConn // the subscribers of the first shard
	for i := range conns {
		conns[i] = &holdConn{frameConn: newFrameConn(-1)}
		if subscribe(t, h, nil, conns[i]).shard == h.shards[0] {
			onFirst = append(onFirst, conns[i])
		}
	}
	for _, c := range conns {
		c.waitFrames(t, 1) // the hello
	}
	if len(onFirst) != n/2 {
		t.Fatalf("%d of %d subscribers on the first shard, want half", len(onFirst), n)
	}
	hold := &holder{held: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(hold.release) }) }
	defer release() // a failing test must not leave the worker held, or the hub could not close
	for _, c := range onFirst {
		c.hold.Store(hold)
	}
	hold.armed.Store(true)

	mustIngest(t, h, roomEvents(t, "e1", 2, 2)...)
	<-hold.held
	// The first shard's worker is held in its first chunk; the others' chunks are delivered.
	got := func() int {
		k := 0
		for _, c := range onFirst {
			if _, frames, _ := c.snapshot(); len(frames) == 2 {
				k++
			}
		}
		return k
	}
	waitFor(t, "the held-up shard's other chunk delivered by another worker", func() bool { return got() >= len(onFirst)-fanoutChunk })
	if k := got(); k == len(onFirst) {
		t.Fatalf("all %d subscribers of the held-up shard got the event while its worker was held", k)
	}
	release()

	mustIngest(t, h, roomEvents(t, "e1", 3, 3)...)
	for i, c := range conns {
		if s := seqs(c.waitFrames(t, 3)[1:]); !reflect.DeepEqual(s, []uint64{2, 3}) {
			t.Fatalf("subscriber %d got %v, want [2 3]", i, s)
		}
		c.check(t)
	}
}
