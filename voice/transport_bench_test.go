package voice

import (
	"net"
	"testing"
	"time"
)

// benchConn is a Conn with an established media session on loopback UDP, without a voice
// gateway: the sending and receiving paths exactly as a live session runs them.
func benchConn(tb testing.TB, mode Mode, media MediaHandler) (*Conn, *mediaSession, *net.UDPConn) {
	tb.Helper()
	cfg, err := Config{Media: media}.withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	udp, err := net.DialUDP("udp", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { udp.Close(); sink.Close() })
	c := &Conn{cfg: cfg, ssrcUsers: map[uint32]string{42: "user"}}
	key := make([]byte, KeySize)
	m := &mediaSession{c: c, udp: udp, ssrc: 7, mode: mode, stop: make(chan struct{})}
	m.sealer, _ = NewSealer(mode, key)
	m.opener, _ = NewOpener(mode, key)
	c.media.Store(m)
	return c, m, sink
}

// BenchmarkSendOpus is the sender's per-packet cost: RTP header, seal and a UDP write to
// loopback (the receiving socket is not read; the kernel drops what overflows it).
func BenchmarkSendOpus(b *testing.B) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305} {
		b.Run(string(mode), func(b *testing.B) {
			c, _, _ := benchConn(b, mode, nil)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.sendAudio(benchPayload, 960); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

type discardMedia struct{ audio, video int }

func (d *discardMedia) HandleAudio(*AudioFrame) { d.audio++ }
func (d *discardMedia) HandleVideo(*VideoFrame) { d.video++ }

// sealedStream returns n sealed audio packets from SSRC 42 with consecutive sequence numbers.
func sealedStream(tb testing.TB, mode Mode, n int) [][]byte {
	s, _ := NewSealer(mode, make([]byte, KeySize))
	out := make([][]byte, n)
	for i := range out {
		h := appendRTPHeader(nil, false, PayloadTypeOpus, uint16(i), uint32(960*i), 42, nil)
		p, err := s.Seal(nil, h, benchPayload)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = p
	}
	return out
}

// BenchmarkReceivePath is the receiver's per-packet cost after the socket read: parse, open,
// jitter buffer, SSRC-to-user lookup and delivery to the MediaHandler.
func BenchmarkReceivePath(b *testing.B) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305} {
		b.Run(string(mode), func(b *testing.B) {
			media := &discardMedia{}
			_, m, _ := benchConn(b, mode, media)
			packets := sealedStream(b, mode, 1<<16) // a whole sequence number cycle
			plain := make([]byte, 0, 1500)
			streams := make(map[uint32]*recvStream)
			now := time.Now()
			m.handleDatagram(packets[0], plain, streams, now)
			streams[42].graceEnd = true
			i := 1
			b.ReportAllocs()
			for b.Loop() {
				m.handleDatagram(packets[i&0xFFFF], plain, streams, now)
				i++
			}
			if media.audio < b.N {
				b.Fatalf("delivered %d of %d", media.audio, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// BenchmarkReceiveUDP adds the socket: each iteration writes one sealed packet to the
// receiver's socket, reads it and runs the receive path, so it counts both system calls.
func BenchmarkReceiveUDP(b *testing.B) {
	media := &discardMedia{}
	_, m, sink := benchConn(b, ModeAES256GCM, media)
	// Here the sink plays the voice server: it sends to the client socket.
	packets := sealedStream(b, ModeAES256GCM, 1<<16)
	buf := make([]byte, 1501)
	plain := make([]byte, 0, 1500)
	streams := make(map[uint32]*recvStream)
	client := m.udp.LocalAddr().(*net.UDPAddr)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sink.WriteToUDP(packets[i&0xFFFF], client); err != nil {
			b.Fatal(err)
		}
		n, err := m.udp.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		m.handleDatagram(buf[:n], plain, streams, time.Now())
		if i == 0 {
			streams[42].graceEnd = true
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkPacing runs the 20 ms sender for b.N frames (each iteration takes 20 ms: run it
// with -benchtime=500x for 10 s) and reports how late the sends were against the schedule.
func BenchmarkPacing(b *testing.B) {
	c, _, _ := benchConn(b, ModeAES256GCM, nil)
	p := newPacer(c.cfg.MaxSendLag)
	defer p.stop()
	var h LatenessHistogram
	for b.Loop() {
		if err := p.wait(b.Context()); err != nil {
			b.Fatal(err)
		}
		h.Add(p.lateness)
		if err := c.sendAudio(silenceFrame, 960); err != nil {
			b.Fatal(err)
		}
		p.advance(20 * time.Millisecond)
	}
	b.ReportMetric(float64(h.Percentile(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(h.Percentile(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(h.Max().Microseconds()), "max-µs")
	b.ReportMetric(float64(p.rebased), "rebased")
}
