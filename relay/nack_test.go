package relay

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/spellcoven/gateway/relay/relaytest"
)

// TestNACKAnswered: a viewer's NACK is answered with the packets asked for, again, the same
// sequence number, SSRC and payload, for each of two viewers of one member, whether the NACK
// responder keeps the packets as written (each viewer's with a header of its own) or copies them.
func TestNACKAnswered(t *testing.T) {
	t.Run("packets kept as written", func(t *testing.T) { testNACKAnswered(t, false) })
	t.Run("packets copied (pion's default)", func(t *testing.T) { testNACKAnswered(t, true) })
}

func testNACKAnswered(t *testing.T, copyPackets bool) {
	r := testRelay(t, Config{copyNACKPackets: copyPackets})
	rm := r.Room("room1")
	var viewers []*relaytest.Viewer
	for _, id := range []string{"viewer1", "viewer2"} {
		v := relaytest.NewViewerWith(t, relaytest.Options{AcceptRepeats: true}, relaytest.Video)
		_, answer, err := r.Watch(context.Background(), "room1", "111", id, v.Offer)
		if err != nil {
			t.Fatal(err)
		}
		v.Answer(t, answer)
		viewers = append(viewers, v)
	}
	feed(t, rm, "111", func() bool {
		return len(viewers[0].VideoPackets()) >= 30 && len(viewers[1].VideoPackets()) >= 30
	})
	for i, v := range viewers {
		got := v.VideoPackets()
		want := []relaytest.VideoPacket{got[3], got[10], got[11]}
		v.SendNACK(t, want[0].Sequence, want[1].Sequence, want[2].Sequence)
		relaytest.WaitFor(t, "the retransmissions", 10*time.Second, func() bool {
			seen := 0
			for _, w := range want {
				n := 0
				for _, p := range v.VideoPackets() {
					if p.Sequence == w.Sequence {
						if p.SSRC != w.SSRC || !bytes.Equal(p.Payload, w.Payload) {
							t.Fatalf("viewer %d: packet %d came back altered", i, w.Sequence)
						}
						n++
					}
				}
				if n >= 2 {
					seen++
				}
			}
			return seen == len(want)
		})
	}
}
