package hub

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// shardOp is one entry of a shard's inbox. Entries are handled in the order the hub queued them, which
// is the order of Apply and Subscribe under Hub.mu: that order is what makes delivery exactly-once.
type shardOp struct {
	records []*Record     // events to deliver to every subscriber registered so far
	add     *Subscription // a subscriber to register
	restart bool          // close every subscriber registered so far with 1012 (the state was restored)
}

// shard is a fan-out worker and the subscribers it serves. The worker writes to each subscriber's
// socket only what it takes at once and leaves the rest to a writer goroutine, so one slow client
// cannot hold up the others; the workers of other shards share its fan-outs (deliverRuns).
type shard struct {
	hub  *Hub
	wake chan struct{} // capacity 1: "the inbox is not empty"

	mu    sync.Mutex
	inbox []shardOp

	// Owned by the worker goroutine.
	spare []shardOp       // the previous inbox, reused
	subs  []*Subscription // registered, possibly closed since
	runs  [][]*Record     // runs of consecutive inbox entries, delivered together

	// job is the fan-out the worker is delivering, for idle workers of other shards to share.
	job atomic.Pointer[fanout]

	writers      sync.WaitGroup // writer goroutines of this shard's subscribers
	delivered    atomic.Uint64  // frames written
	messages     atomic.Uint64  // socket writes
	lastDelivery atomic.Int64   // unix nanoseconds
}

func newShard(h *Hub) *shard { return &shard{hub: h, wake: make(chan struct{}, 1)} }

// push queues op for the worker without ever waiting for it.
func (sh *shard) push(op shardOp) {
	sh.mu.Lock()
	sh.inbox = append(sh.inbox, op)
	sh.mu.Unlock()
	sh.signal()
}

// signal wakes the worker, or leaves it a wake-up if it is busy.
func (sh *shard) signal() {
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

func (sh *shard) run(stop <-chan struct{}) {
	defer sh.hub.workers.Done()
	scan := time.NewTicker(sh.hub.cfg.scanInterval())
	defer scan.Stop()
	for {
		select {
		case <-stop:
			return
		case <-sh.wake:
			sh.drainInbox()
			sh.helpOthers()
		case now := <-scan.C:
			sh.evictStalledWriters(now)
		}
	}
}

// drainInbox handles every queued op. Consecutive event runs reach each subscriber under one lock.
func (sh *shard) drainInbox() {
	sh.mu.Lock()
	ops := sh.inbox
	sh.inbox = sh.spare
	sh.mu.Unlock()
	for i := range ops {
		op := &ops[i]
		if op.records != nil {
			sh.runs = append(sh.runs, op.records)
			continue
		}
		sh.deliverRuns()
		if op.add != nil {
			sh.subs = append(sh.subs, op.add)
		}
		if op.restart {
			for _, s := range sh.subs {
				s.shutdown(CloseRestarting, "restarting")
			}
			clear(sh.subs)
			sh.subs = sh.subs[:0]
		}
	}
	sh.deliverRuns()
	clear(ops)
	sh.spare = ops[:0]
}

// deliverRuns hands the pending runs to every subscriber, starting at a random one: the subscribers
// served last in one fan-out are not those of the next, so no client is always the last. The
// subscribers are taken a chunk at a time, by this worker and by the workers of other shards once
// they are done with their own, so that one fan-out ends on every core at about the same time even
// when one worker was held up.
func (sh *shard) deliverRuns() {
	if len(sh.runs) == 0 {
		return
	}
	if n := len(sh.subs); n > 0 {
		f := &fanout{subs: sh.subs, runs: sh.runs, start: rand.IntN(n), chunks: (n + fanoutChunk - 1) / fanoutChunk}
		if f.chunks == 1 {
			f.work()
		} else {
			f.finished = make(chan struct{})
			sh.job.Store(f)
			// The other workers look for fan-outs to share when they wake up, after their own.
			for _, other := range sh.hub.shards {
				if other != sh {
					other.signal()
				}
			}
			f.work()
			<-f.finished // chunks taken by other workers
			sh.job.Store(nil)
		}
	}
	live := sh.subs[:0]
	for _, s := range sh.subs {
		if s != nil {
			live = append(live, s)
		}
	}
	clear(sh.subs[len(live):])
	sh.subs = live
	clear(sh.runs)
	sh.runs = sh.runs[:0]
	sh.lastDelivery.Store(time.Now().UnixNano())
}

// helpOthers takes chunks of the fan-outs other shards' workers are delivering, until none is left.
func (sh *shard) helpOthers() {
	for _, other := range sh.hub.shards {
		if other == sh {
			continue
		}
		if f := other.job.Load(); f != nil {
			f.work()
		}
	}
}

// fanoutChunk is the subscribers a worker takes at once from a fan-out: about 0.3 to 0.7 ms of
// writes, few enough that a worker held up keeps little of the fan-out for itself.
const fanoutChunk = 64

// fanout is one delivery of runs to the subscribers of a shard, in chunks of fanoutChunk from start
// on. Each chunk is taken by exactly one worker, so each subscriber gets the runs once, and the
// shard's worker waits for every chunk before its next fan-out, so each subscriber gets them in order.
type fanout struct {
	subs     []*Subscription // the shard's; a worker sets the entry of a subscriber found closed to nil
	runs     [][]*Record
	start    int
	chunks   int
	next     atomic.Int64  // the next chunk to take
	done     atomic.Int64  // chunks delivered
	finished chan struct{} // closed when every chunk is delivered (nil for a single chunk)
}

// work delivers chunks of f until none is left to take.
func (f *fanout) work() {
	n := len(f.subs)
	for {
		c := int(f.next.Add(1) - 1)
		if c >= f.chunks {
			return
		}
		for i := c * fanoutChunk; i < min((c+1)*fanoutChunk, n); i++ {
			j := f.start + i
			if j >= n {
				j -= n
			}
			if !f.subs[j].deliver(f.runs) {
				f.subs[j] = nil
			}
		}
		if f.done.Add(1) == int64(f.chunks) && f.finished != nil {
			close(f.finished)
		}
	}
}

// evictStalledWriters evicts subscribers whose write has been in flight for WriteTimeout, and drops
// closed ones from the list. A write counts from the first scan that sees it, so it is evicted between
// WriteTimeout and WriteTimeout plus one scan interval after it started, never earlier.
func (sh *shard) evictStalledWriters(now time.Time) {
	timeout := sh.hub.cfg.WriteTimeout
	live := sh.subs[:0]
	for _, s := range sh.subs {
		if gen := s.writeGen.Load(); gen&1 == 1 {
			if gen != s.seenGen {
				s.seenGen, s.seenAt = gen, now
			} else if now.Sub(s.seenAt) >= timeout {
				s.mu.Lock()
				s.evictLocked("write timeout")
				s.mu.Unlock()
			}
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			live = append(live, s)
		}
	}
	clear(sh.subs[len(live):])
	sh.subs = live
}

// takeAll returns every subscriber registered or waiting to be, once the worker has stopped.
func (sh *shard) takeAll() []*Subscription {
	subs := sh.subs
	sh.subs = nil
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, op := range sh.inbox {
		if op.add != nil {
			subs = append(subs, op.add)
		}
	}
	sh.inbox = nil
	return subs
}
