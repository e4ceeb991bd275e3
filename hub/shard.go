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

// shard is a fan-out worker and the subscribers it serves. The worker never writes to a socket: it
// queues frames and starts writers, so one slow client cannot hold up the others.
type shard struct {
	hub  *Hub
	wake chan struct{} // capacity 1: "the inbox is not empty"

	mu    sync.Mutex
	inbox []shardOp

	// Owned by the worker goroutine.
	spare []shardOp       // the previous inbox, reused
	subs  []*Subscription // registered, possibly closed since
	runs  [][]*Record     // runs of consecutive inbox entries, delivered together

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
// served last in one fan-out are not those of the next, so no client is always the last.
func (sh *shard) deliverRuns() {
	if len(sh.runs) == 0 {
		return
	}
	n := len(sh.subs)
	if n > 0 {
		start := rand.IntN(n)
		for i := range n {
			j := start + i
			if j >= n {
				j -= n
			}
			if !sh.subs[j].deliver(sh.runs) {
				sh.subs[j] = nil
			}
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
