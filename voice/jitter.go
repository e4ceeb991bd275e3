package voice

import (
	"fmt"
	"time"
)

// JitterConfig sizes a JitterBuffer.
type JitterConfig struct {
	// Depth is how many packets past a gap the buffer holds while waiting for the missing one;
	// once the newest packet is Depth ahead, the gap is declared lost (default 8: 160 ms of
	// audio).
	Depth int
	// MaxDelay is how long a packet may wait behind a gap before the gap is declared lost
	// (default 60 ms).
	MaxDelay time.Duration
	// MaxPayload is the largest payload stored; larger packets are dropped and counted
	// (default 1500).
	MaxPayload int
}

func (c JitterConfig) withDefaults() (JitterConfig, error) {
	if c.Depth < 0 || c.MaxDelay < 0 || c.MaxPayload < 0 {
		return c, fmt.Errorf("voice: jitter buffer: negative Depth, MaxDelay or MaxPayload")
	}
	if c.Depth == 0 {
		c.Depth = 8
	}
	if c.Depth > 1024 {
		return c, fmt.Errorf("voice: jitter buffer: Depth %d is more than 1024", c.Depth)
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = 60 * time.Millisecond
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = 1500
	}
	return c, nil
}

// JitterStats counts what happened to one sender's packets.
type JitterStats struct {
	// Received counts packets accepted into the buffer.
	Received uint64
	// Released counts packets handed on, in order.
	Released uint64
	// Lost counts sequence numbers skipped because their packet never came in time.
	Lost uint64
	// Late counts packets that arrived after their place was released or skipped.
	Late uint64
	// Duplicates counts packets whose sequence number was already waiting in the buffer.
	Duplicates uint64
	// Reordered counts packets that arrived ahead of a missing one and were held back.
	Reordered uint64
	// Oversize counts packets dropped for exceeding MaxPayload.
	Oversize uint64
	// Resyncs counts jumps in sequence numbers too large to be loss (the sender restarted).
	Resyncs uint64
}

// BufferedPacket is a packet released by a JitterBuffer. Payload is valid only during the
// release callback.
type BufferedPacket struct {
	RTPHeader
	Payload []byte
	// Arrived is when the packet was pushed.
	Arrived time.Time
	// LostBefore is how many packets were declared lost just before this one.
	LostBefore int
}

type jitterSlot struct {
	used    bool
	header  RTPHeader
	arrived time.Time
	payload []byte
}

// resyncGap is a forward jump in sequence numbers past which the buffer starts over instead of
// counting thousands of losses: a sender that restarted, not a network that lost 20 s.
const resyncGap = 1000

// JitterBuffer puts one sender's RTP packets back in sequence order. A packet that continues the
// sequence is released at once; packets after a gap wait until the missing one arrives, until
// the newest is Depth packets ahead, or until MaxDelay passes, and then the gap counts as lost.
// It never allocates after construction. It is not safe for concurrent use.
type JitterBuffer struct {
	cfg     JitterConfig
	release func(*BufferedPacket)
	slots   []jitterSlot
	next    uint16 // sequence number to release next
	started bool
	pending int
	out     BufferedPacket
	lost    int // losses since the last release
	stats   JitterStats
}

// NewJitterBuffer returns a buffer that hands packets, in order, to release. release runs
// inside Push, Tick and Flush and must not call back into the buffer.
func NewJitterBuffer(cfg JitterConfig, release func(*BufferedPacket)) (*JitterBuffer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if release == nil {
		return nil, fmt.Errorf("voice: jitter buffer: nil release function")
	}
	j := &JitterBuffer{cfg: cfg, release: release, slots: make([]jitterSlot, cfg.Depth)}
	for i := range j.slots {
		j.slots[i].payload = make([]byte, 0, cfg.MaxPayload)
	}
	return j, nil
}

// Stats returns the counters so far.
func (j *JitterBuffer) Stats() JitterStats { return j.stats }

// Push adds a packet that arrived at now and releases whatever is then in order.
func (j *JitterBuffer) Push(h *RTPHeader, payload []byte, now time.Time) {
	if len(payload) > j.cfg.MaxPayload {
		j.stats.Oversize++
		return
	}
	if !j.started {
		j.started, j.next = true, h.Sequence
	}
	d := int(int16(h.Sequence - j.next))
	if d >= resyncGap || d <= -resyncGap {
		j.Flush()
		j.stats.Resyncs++
		j.next, d = h.Sequence, 0
	}
	if d < 0 {
		j.stats.Late++
		return
	}
	// Make room: a packet Depth or more ahead forces the oldest gaps to be declared lost.
	for d >= len(j.slots) {
		j.skipOne()
		d--
	}
	s := &j.slots[int(h.Sequence)%len(j.slots)]
	if s.used {
		j.stats.Duplicates++
		return
	}
	s.used, s.header, s.arrived = true, *h, now
	s.payload = append(s.payload[:0], payload...)
	j.pending++
	j.stats.Received++
	j.drain()
	if s.used && s.header.Sequence == h.Sequence {
		j.stats.Reordered++ // held back behind a gap
	}
}

// Tick declares lost the gaps that have held packets back longer than MaxDelay, releasing what
// follows them. Call it at NextDeadline.
func (j *JitterBuffer) Tick(now time.Time) {
	for j.pending > 0 {
		oldest, ok := j.oldestArrival()
		if !ok || now.Sub(oldest) < j.cfg.MaxDelay {
			return
		}
		j.skipOne()
		j.drain()
	}
}

// NextDeadline is when Tick next has work to do; zero when nothing is waiting.
func (j *JitterBuffer) NextDeadline() time.Time {
	oldest, ok := j.oldestArrival()
	if !ok {
		return time.Time{}
	}
	return oldest.Add(j.cfg.MaxDelay)
}

// Flush releases everything waiting, counting the gaps between as lost. Use it when the
// sender stops (it left, or the connection closes).
func (j *JitterBuffer) Flush() {
	for j.pending > 0 {
		j.skipOne()
		j.drain()
	}
}

// skipOne moves past the next sequence number, releasing its packet if present or counting it
// as lost.
func (j *JitterBuffer) skipOne() {
	s := &j.slots[int(j.next)%len(j.slots)]
	if s.used && s.header.Sequence == j.next {
		j.emit(s)
	} else {
		j.stats.Lost++
		j.lost++
	}
	j.next++
}

// drain releases packets while the next sequence number is present.
func (j *JitterBuffer) drain() {
	for j.pending > 0 {
		s := &j.slots[int(j.next)%len(j.slots)]
		if !s.used || s.header.Sequence != j.next {
			return
		}
		j.emit(s)
		j.next++
	}
}

func (j *JitterBuffer) emit(s *jitterSlot) {
	j.out = BufferedPacket{RTPHeader: s.header, Payload: s.payload, Arrived: s.arrived, LostBefore: j.lost}
	j.lost = 0
	s.used = false
	j.pending--
	j.stats.Released++
	j.release(&j.out)
}

func (j *JitterBuffer) oldestArrival() (time.Time, bool) {
	if j.pending == 0 {
		return time.Time{}, false
	}
	var oldest time.Time
	found := false
	for i := range j.slots {
		if s := &j.slots[i]; s.used && (!found || s.arrived.Before(oldest)) {
			oldest, found = s.arrived, true
		}
	}
	return oldest, found
}
