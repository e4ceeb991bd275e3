package main

import (
	"strings"
	"testing"
)

func TestFramesAreToldApartByTheirFirstBytes(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		kind    frameKind
		seq     uint64
		withSeq bool
	}{
		{"event", `{"v":1,"epoch":"bench-1","seq":42,"type":"voice.updated","ts":"2026-05-01T12:00:00Z","guild_id":"1","data":{"seq":7}}`, frameEvent, 42, true},
		{"hello with a snapshot", `{"type":"hello","resumed":false,"epoch":"bench-1","seq":1,"snapshot":{"rooms":[]}}`, frameHello, 1, true},
		{"largest seq", `{"v":1,"epoch":"e","seq":18446744073709551615}`, frameEvent, 18446744073709551615, true},
		{"seq too long", `{"v":1,"epoch":"e","seq":184467440737095516150}`, frameEvent, 0, false},
		{"seq missing", `{"v":1,"epoch":"e","type":"x"}`, frameEvent, 0, false},
		{"seq not a number", `{"v":1,"epoch":"e","seq":"1"}`, frameEvent, 0, false},
		{"pong", `{"type":"pong"}`, framePong, 0, false},
		{"error", `{"type":"error","code":"too_slow","message":"queue full"}`, frameError, 0, false},
		{"something else", `{"type":"surprise"}`, frameUnknown, 0, false},
		{"empty", ``, frameUnknown, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindOf([]byte(tt.frame)); got != tt.kind {
				t.Errorf("kind %v, want %v", got, tt.kind)
			}
			seq, ok := frameSeq([]byte(tt.frame))
			if ok != tt.withSeq || seq != tt.seq {
				t.Errorf("seq %d, %v; want %d, %v", seq, ok, tt.seq, tt.withSeq)
			}
		})
	}
}

func TestMessagesSplitIntoFramesOnNewlines(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want []string
	}{
		{"one frame", `{"a":1}`, []string{`{"a":1}`}},
		{"three frames", "{\"a\":1}\n{\"b\":2}\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
		{"trailing newline", "{\"a\":1}\n", []string{`{"a":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for msg := []byte(tt.msg); len(msg) > 0; {
				var f []byte
				f, msg = nextFrame(msg)
				got = append(got, string(f))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("frames %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSequenceCheckAcceptsOnlyEveryEventOnceInOrder(t *testing.T) {
	const hello, last = 1, 5
	tests := []struct {
		name    string
		hello   bool
		events  []uint64
		wantErr string // empty: the stream is right
	}{
		{"every event in order", true, []uint64{2, 3, 4, 5}, ""},
		{"no hello", false, nil, "no hello"},
		{"nothing after the hello", true, nil, "got 0 events up to seq 1, want 4 events up to seq 5"},
		{"the tail missing", true, []uint64{2, 3}, "got 2 events up to seq 3"},
		{"a gap", true, []uint64{2, 4, 5}, "event 4 after a gap (expected 3)"},
		{"a duplicate", true, []uint64{2, 3, 3, 4, 5}, "event 3 again or late (expected 4)"},
		{"two swapped", true, []uint64{2, 4, 3, 5}, "2 out-of-order or repeated events; first: event 4 after a gap"},
		{"an event before the hello", false, []uint64{2}, "no hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c seqCheck
			if tt.hello {
				c.hello(hello)
			}
			for _, seq := range tt.events {
				c.event(seq)
			}
			err := c.verify(hello, last)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("verify: %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("verify: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestASecondHelloIsAViolation(t *testing.T) {
	var c seqCheck
	c.hello(1)
	c.hello(1)
	if err := c.verify(1, 1); err == nil || !strings.Contains(err.Error(), "a second hello") {
		t.Fatalf("verify: %v, want a second hello reported", err)
	}
}
