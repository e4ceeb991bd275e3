package voice

import (
	"testing"
)

// benchPayload is a typical 20 ms Opus frame at 64 kbit/s.
var benchPayload = make([]byte, 160)

// BenchmarkSeal measures sealing one Opus packet per iteration in each mode, with a reused
// output buffer: the steady state of the sender.
func BenchmarkSeal(b *testing.B) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305} {
		b.Run(string(mode), func(b *testing.B) {
			s, err := NewSealer(mode, make([]byte, KeySize))
			if err != nil {
				b.Fatal(err)
			}
			header := appendRTPHeader(nil, false, PayloadTypeOpus, 1, 960, 42, nil)
			buf := make([]byte, 0, 1500)
			b.ReportAllocs()
			b.SetBytes(int64(len(benchPayload)))
			for b.Loop() {
				if buf, err = s.Seal(buf[:0], header, benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen measures authenticating and decrypting one Opus packet per iteration.
func BenchmarkOpen(b *testing.B) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305} {
		b.Run(string(mode), func(b *testing.B) {
			key := make([]byte, KeySize)
			s, _ := NewSealer(mode, key)
			o, err := NewOpener(mode, key)
			if err != nil {
				b.Fatal(err)
			}
			header := appendRTPHeader(nil, false, PayloadTypeOpus, 1, 960, 42, nil)
			packet, _ := s.Seal(nil, header, benchPayload)
			buf := make([]byte, 0, 1500)
			b.ReportAllocs()
			b.SetBytes(int64(len(benchPayload)))
			for b.Loop() {
				if _, err := o.Open(buf, packet); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
