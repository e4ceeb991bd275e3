package voice

import (
	"slices"
	"testing"
	"time"
)

// arrival is one packet pushed into a jitter buffer at a time offset, or, with tick set, a
// call to Tick at that offset.
type arrival struct {
	seq  uint16
	at   time.Duration
	tick bool
	size int
}

func TestJitterBuffer(t *testing.T) {
	cfg := JitterConfig{Depth: 4, MaxDelay: 60 * time.Millisecond, MaxPayload: 100}
	ms := time.Millisecond
	cases := []struct {
		name     string
		arrivals []arrival
		flush    bool
		want     []uint16
		stats    JitterStats
	}{
		{
			name:     "in order is released at once",
			arrivals: []arrival{{seq: 1}, {seq: 2}, {seq: 3}},
			want:     []uint16{1, 2, 3},
			stats:    JitterStats{Received: 3, Released: 3},
		},
		{
			name:     "swapped neighbours are reordered",
			arrivals: []arrival{{seq: 1}, {seq: 3}, {seq: 2}, {seq: 4}},
			want:     []uint16{1, 2, 3, 4},
			stats:    JitterStats{Received: 4, Released: 4, Reordered: 1},
		},
		{
			name:     "a gap waits for MaxDelay, then counts as lost",
			arrivals: []arrival{{seq: 1}, {seq: 3, at: 20 * ms}, {seq: 4, at: 40 * ms}, {at: 79 * ms, tick: true}, {at: 80 * ms, tick: true}},
			want:     []uint16{1, 3, 4},
			stats:    JitterStats{Received: 3, Released: 3, Lost: 1, Reordered: 2},
		},
		{
			name:     "a packet Depth ahead of a gap declares it lost",
			arrivals: []arrival{{seq: 10}, {seq: 12}, {seq: 13}, {seq: 14}, {seq: 15}},
			want:     []uint16{10, 12, 13, 14, 15},
			stats:    JitterStats{Received: 5, Released: 5, Lost: 1, Reordered: 3},
		},
		{
			name:     "a packet after its place was skipped is late",
			arrivals: []arrival{{seq: 1}, {seq: 3}, {at: 70 * ms, tick: true}, {seq: 2, at: 71 * ms}},
			want:     []uint16{1, 3},
			stats:    JitterStats{Received: 2, Released: 2, Lost: 1, Late: 1, Reordered: 1},
		},
		{
			name:     "a packet already released is late",
			arrivals: []arrival{{seq: 1}, {seq: 2}, {seq: 1}},
			want:     []uint16{1, 2},
			stats:    JitterStats{Received: 2, Released: 2, Late: 1},
		},
		{
			name:     "a duplicate of a waiting packet is dropped",
			arrivals: []arrival{{seq: 1}, {seq: 3}, {seq: 3}, {seq: 2}},
			want:     []uint16{1, 2, 3},
			stats:    JitterStats{Received: 3, Released: 3, Duplicates: 1, Reordered: 1},
		},
		{
			name:     "sequence numbers wrap",
			arrivals: []arrival{{seq: 65534}, {seq: 0}, {seq: 65535}, {seq: 1}},
			want:     []uint16{65534, 65535, 0, 1},
			stats:    JitterStats{Received: 4, Released: 4, Reordered: 1},
		},
		{
			name:     "a jump too large for loss starts over",
			arrivals: []arrival{{seq: 1}, {seq: 3}, {seq: 5000}, {seq: 5001}},
			want:     []uint16{1, 3, 5000, 5001},
			stats:    JitterStats{Received: 4, Released: 4, Lost: 1, Reordered: 1, Resyncs: 1},
		},
		{
			name:     "an oversize packet is dropped",
			arrivals: []arrival{{seq: 1}, {seq: 2, size: 101}, {seq: 3}},
			flush:    true,
			want:     []uint16{1, 3},
			stats:    JitterStats{Received: 2, Released: 2, Oversize: 1, Lost: 1, Reordered: 1},
		},
		{
			name:     "flush releases what waits and counts the gaps",
			arrivals: []arrival{{seq: 1}, {seq: 4}, {seq: 6}},
			flush:    true,
			want:     []uint16{1, 4, 6},
			stats:    JitterStats{Received: 3, Released: 3, Lost: 3, Reordered: 2},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []uint16
			var payloadOK = true
			jb, err := NewJitterBuffer(cfg, func(p *BufferedPacket) {
				got = append(got, p.Sequence)
				if len(p.Payload) != 1 || p.Payload[0] != byte(p.Sequence) {
					payloadOK = false
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			for _, a := range c.arrivals {
				if a.tick {
					jb.Tick(t0.Add(a.at))
					continue
				}
				payload := []byte{byte(a.seq)}
				if a.size > 0 {
					payload = make([]byte, a.size)
				}
				jb.Push(&RTPHeader{Sequence: a.seq}, payload, t0.Add(a.at))
			}
			if c.flush {
				jb.Flush()
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("released %v, want %v", got, c.want)
			}
			if !payloadOK {
				t.Error("a released payload does not match its sequence number")
			}
			if jb.Stats() != c.stats {
				t.Errorf("stats %+v, want %+v", jb.Stats(), c.stats)
			}
		})
	}
}

func TestJitterBufferDeadline(t *testing.T) {
	jb, _ := NewJitterBuffer(JitterConfig{MaxDelay: 50 * time.Millisecond}, func(*BufferedPacket) {})
	t0 := time.Now()
	if !jb.NextDeadline().IsZero() {
		t.Fatal("deadline with nothing waiting")
	}
	jb.Push(&RTPHeader{Sequence: 1}, nil, t0)
	if !jb.NextDeadline().IsZero() {
		t.Fatal("deadline after an in-order packet")
	}
	jb.Push(&RTPHeader{Sequence: 3}, nil, t0.Add(10*time.Millisecond))
	if got, want := jb.NextDeadline(), t0.Add(60*time.Millisecond); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got.Sub(t0), want.Sub(t0))
	}
}

func TestJitterConfigLimits(t *testing.T) {
	cases := []struct {
		name string
		cfg  JitterConfig
		ok   bool
	}{
		{"defaults", JitterConfig{}, true},
		{"negative depth", JitterConfig{Depth: -1}, false},
		{"negative delay", JitterConfig{MaxDelay: -time.Millisecond}, false},
		{"negative payload", JitterConfig{MaxPayload: -1}, false},
		{"depth too large", JitterConfig{Depth: 1025}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewJitterBuffer(c.cfg, func(*BufferedPacket) {})
			if (err == nil) != c.ok {
				t.Fatalf("NewJitterBuffer error %v, want ok=%v", err, c.ok)
			}
		})
	}
	if _, err := NewJitterBuffer(JitterConfig{}, nil); err == nil {
		t.Error("nil release accepted")
	}
}

func TestJitterBufferAllocatesNothing(t *testing.T) {
	released := 0
	jb, _ := NewJitterBuffer(JitterConfig{}, func(*BufferedPacket) { released++ })
	payload := make([]byte, 160)
	now := time.Now()
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		// Two packets out of order per run.
		jb.Push(&RTPHeader{Sequence: seq + 1}, payload, now)
		jb.Push(&RTPHeader{Sequence: seq}, payload, now)
		seq += 2
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push", allocs)
	}
	if released < 2000 {
		t.Fatalf("released %d packets", released)
	}
}
