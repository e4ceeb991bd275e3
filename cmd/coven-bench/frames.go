package main

import (
	"bytes"
	"fmt"
	"math"
)

// frameKind is what a server frame is, told from its first bytes without decoding it: the hub writes
// event envelopes as {"v":1,"epoch":...,"seq":N,...} and control frames as {"type":"<kind>",...}.
type frameKind int

const (
	frameUnknown frameKind = iota
	frameEvent
	frameHello
	framePong
	frameError
)

var (
	prefixEvent = []byte(`{"v":`)
	prefixHello = []byte(`{"type":"hello"`)
	prefixPong  = []byte(`{"type":"pong"`)
	prefixError = []byte(`{"type":"error"`)
	keySeq      = []byte(`"seq":`)
)

func kindOf(frame []byte) frameKind {
	switch {
	case bytes.HasPrefix(frame, prefixEvent):
		return frameEvent
	case bytes.HasPrefix(frame, prefixHello):
		return frameHello
	case bytes.HasPrefix(frame, prefixPong):
		return framePong
	case bytes.HasPrefix(frame, prefixError):
		return frameError
	}
	return frameUnknown
}

// frameSeq returns the first "seq" of an event or hello frame. In both the seq comes before any
// payload, and the only string before it (the epoch) cannot hold a '"', so the first match is the
// envelope's own.
func frameSeq(frame []byte) (uint64, bool) {
	i := bytes.Index(frame, keySeq)
	if i < 0 {
		return 0, false
	}
	digits := frame[i+len(keySeq):]
	var seq uint64
	n := 0
	for ; n < len(digits) && digits[n] >= '0' && digits[n] <= '9'; n++ {
		d := uint64(digits[n] - '0')
		if seq > (math.MaxUint64-d)/10 {
			return 0, false // more than a uint64 holds
		}
		seq = seq*10 + d
	}
	return seq, n > 0
}

// nextFrame splits the first frame off msg: a WebSocket message holds one or more frames joined by
// '\n'.
func nextFrame(msg []byte) (frame, rest []byte) {
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i], msg[i+1:]
	}
	return msg, nil
}

// seqCheck verifies that one client receives every event after its hello exactly once, in order.
type seqCheck struct {
	helloed bool
	next    uint64 // the seq expected next
	got     uint64 // events received
	bad     uint64 // events that broke the order: duplicated, early (after a gap) or late
	first   string // the first violation, for the report
}

// hello records the hello's position: events from seq+1 follow.
func (c *seqCheck) hello(seq uint64) {
	if c.helloed {
		c.violate(fmt.Sprintf("a second hello (seq %d)", seq))
		return
	}
	c.helloed, c.next = true, seq+1
}

// event records the receipt of event seq.
func (c *seqCheck) event(seq uint64) {
	c.got++
	switch {
	case !c.helloed:
		c.violate(fmt.Sprintf("event %d before the hello", seq))
	case seq == c.next:
		c.next++
		return
	case seq < c.next:
		c.violate(fmt.Sprintf("event %d again or late (expected %d)", seq, c.next))
		return // next stays: the stream may still continue in order
	default:
		c.violate(fmt.Sprintf("event %d after a gap (expected %d)", seq, c.next))
	}
	c.next = max(c.next, seq+1)
}

func (c *seqCheck) violate(what string) {
	if c.bad == 0 {
		c.first = what
	}
	c.bad++
}

// verify reports whether exactly the events (after, last] arrived, each once and in order. after is
// the seq every client's hello is expected to carry.
func (c *seqCheck) verify(after, last uint64) error {
	switch {
	case !c.helloed:
		return fmt.Errorf("no hello")
	case c.bad > 0:
		return fmt.Errorf("%d out-of-order or repeated events; first: %s", c.bad, c.first)
	case c.next-1 != last || c.got != last-after:
		return fmt.Errorf("got %d events up to seq %d, want %d events up to seq %d", c.got, c.next-1, last-after, last)
	}
	return nil
}
