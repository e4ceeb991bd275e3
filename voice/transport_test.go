package voice

import (
	"testing"
	"time"
)

// TestPacketPathsAllocateNothing: once a sender's stream exists, neither sending a packet (RTP
// header, seal, UDP write) nor receiving one (open, jitter buffer, delivery) allocates.
func TestPacketPathsAllocateNothing(t *testing.T) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305} {
		t.Run(string(mode), func(t *testing.T) {
			media := &discardMedia{}
			c, m, _ := benchConn(t, mode, media)
			if allocs := testing.AllocsPerRun(200, func() {
				if err := c.sendAudio(benchPayload, 960); err != nil {
					t.Fatal(err)
				}
			}); allocs != 0 {
				t.Errorf("send: %v allocations per packet", allocs)
			}
			packets := sealedStream(t, mode, 300)
			plain := make([]byte, 0, 1500)
			streams := make(map[uint32]*recvStream)
			now := time.Now()
			m.handleDatagram(packets[0], plain, streams, now)
			streams[42].graceEnd = true
			i := 1
			if allocs := testing.AllocsPerRun(200, func() {
				m.handleDatagram(packets[i], plain, streams, now)
				i++
			}); allocs != 0 {
				t.Errorf("receive: %v allocations per packet", allocs)
			}
			if media.audio < 200 {
				t.Fatalf("delivered %d packets", media.audio)
			}
		})
	}
}
