package dave

import (
	"bytes"
	"testing"
)

// BenchmarkOpusFrameRoundTrip encrypts and decrypts one 20 ms Opus frame (160 bytes, 64
// kbit/s) per iteration, reusing buffers as the voice client does: the steady state must not
// allocate.
func BenchmarkOpusFrameRoundTrip(b *testing.B) {
	clk := newTestClock()
	e, d := pair(b, bytes.Repeat([]byte{3}, 16), clk)
	frame := bytes.Repeat([]byte{0x5A}, 160)
	enc := make([]byte, 0, 512)
	dec := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		var err error
		enc, err = e.Encrypt(CodecOpus, enc[:0], frame)
		if err != nil {
			b.Fatal(err)
		}
		dec, err = d.Decrypt(dec[:0], enc)
		if err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Equal(dec, frame) {
		b.Fatal("round trip changed the frame")
	}
}

// BenchmarkVP8FrameRoundTrip does the same for a 1100-byte VP8 key frame.
func BenchmarkVP8FrameRoundTrip(b *testing.B) {
	clk := newTestClock()
	e, d := pair(b, bytes.Repeat([]byte{3}, 16), clk)
	frame := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, bytes.Repeat([]byte{0x5A}, 1090)...)
	enc := make([]byte, 0, 2048)
	dec := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		var err error
		if enc, err = e.Encrypt(CodecVP8, enc[:0], frame); err != nil {
			b.Fatal(err)
		}
		if dec, err = d.Decrypt(dec[:0], enc); err != nil {
			b.Fatal(err)
		}
	}
}
