package relay

import (
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// configureNACK sets up the answers to viewers' NACKs without copying every packet.
//
// pion's NACK responder keeps each packet it sends, per viewer, for resending; by default it
// copies the payload into a pooled 1,500-byte buffer first, which cost a fifth of the relay's
// CPU (a copy of every packet for every viewer). Here the responder keeps the packet as written
// (nack.DisableCopy): the payloads are never written to again — each frame is copied once when
// queued (WriteVideo, WriteH264, WriteAudio) and the payloaders allocate each packet's payload —
// so a resend reads the bytes that were sent. The header is the one thing written per viewer
// (pion's track sets each viewer's SSRC and payload type in one header it reuses), so an
// interceptor outside the responder hands it a header of its own: a small copy, not a packet.
//
// The relay receives no media, so the NACK generator is not needed.
func configureNACK(m *webrtc.MediaEngine, ir *interceptor.Registry, copyPackets bool) error {
	// 256 packets per viewer's camera: about 4 s of a 500 kbit/s camera and 1 s at 2.5 Mbit/s, well
	// past the round trip within which a resent packet is still of use. pion's default, 1,024,
	// keeps four times as many packet headers alive per viewer for the garbage collector to mark.
	opts := []nack.ResponderOption{nack.ResponderSize(nackBufferPackets)}
	if !copyPackets {
		opts = append(opts, nack.DisableCopy())
	}
	responder, err := nack.NewResponderInterceptor(opts...)
	if err != nil {
		return err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	// Interceptors added later wrap the earlier ones: the header copy runs before the responder.
	ir.Add(responder)
	if !copyPackets {
		ir.Add(headerCopyFactory{})
	}
	return nil
}

// nackBufferPackets is how many of its last packets each viewer's camera stream keeps to answer
// NACKs from.
const nackBufferPackets = 256

// headerCopy gives every packet written a header of its own.
type headerCopy struct{ interceptor.NoOp }

func (*headerCopy) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		own := h.Clone()
		return w.Write(&own, payload, a)
	})
}

type headerCopyFactory struct{}

func (headerCopyFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerCopy{}, nil
}
