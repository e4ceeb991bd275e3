package voice

import (
	"bytes"
	"errors"
	"testing"
)

// The fuzz targets' seed corpora live in testdata/fuzz/<target>; they run as ordinary tests.
// Run one target with: go test -run='^$' -fuzz='^FuzzOpenAES256GCM$' -fuzztime=30s ./voice

// FuzzParseRTPHeader checks the hand-written parser against its own invariants: it never reads
// past the packet, and what it reports fits in the packet.
func FuzzParseRTPHeader(f *testing.F) {
	f.Add([]byte{0x80, 120, 0, 1, 0, 0, 3, 192, 0, 0, 0, 42})
	f.Add([]byte{0x90, 103, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0xBE, 0xDE, 0, 1, 0x52, 0, 0, 0})
	f.Add([]byte{0x83, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 1})
	f.Add([]byte{0x81, 200, 0, 6})
	f.Fuzz(func(t *testing.T, packet []byte) {
		h, err := ParseRTPHeader(packet)
		if err != nil {
			return
		}
		if h.ClearLen() > len(packet) {
			t.Fatalf("clear length %d past a %d-byte packet", h.ClearLen(), len(packet))
		}
		if h.CSRCCount > 15 || h.ExtensionWords > 0xFFFF {
			t.Fatalf("impossible header %+v", h)
		}
		if packet[0]>>6 != 2 || IsRTCP(packet) {
			t.Fatalf("accepted a non-RTP packet %x", packet)
		}
	})
}

func FuzzOpenAES256GCM(f *testing.F)         { fuzzOpen(f, ModeAES256GCM) }
func FuzzOpenXChaCha20Poly1305(f *testing.F) { fuzzOpen(f, ModeXChaCha20Poly1305) }
func FuzzOpenXSalsa20Poly1305(f *testing.F)  { fuzzOpen(f, ModeXSalsa20Poly1305) }

// fuzzOpen drives a decryptor two ways: arbitrary bytes (which must be refused, never panic),
// and authentic packets sealed around an arbitrary header and payload, which must come back
// intact when the header is well formed and be refused cleanly when it lies about its layout.
func fuzzOpen(f *testing.F, mode Mode) {
	f.Add([]byte{0x80, 120, 0, 1, 0, 0, 3, 192, 0, 0, 0, 42}, []byte{0xF8, 0xFF, 0xFE}, false)
	f.Add([]byte{0x90, 103, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0xBE, 0xDE, 0, 1, 0x52, 0, 0, 0}, []byte("vp8"), false)
	f.Add([]byte{0xA1, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 7}, []byte{1, 2, 3, 2}, false)
	f.Add([]byte{0x90, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 9}, []byte{1, 2, 3, 4}, true)
	key := bytes.Repeat([]byte{7}, KeySize)
	f.Fuzz(func(t *testing.T, header, payload []byte, raw bool) {
		o, err := NewOpener(mode, key)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 64)
		if raw {
			if _, err := o.Open(buf, append(header, payload...)); err == nil {
				t.Fatal("opened a packet that was never sealed")
			}
			return
		}
		s, _ := NewSealer(mode, key)
		packet, err := s.Seal(nil, header, payload)
		if err != nil {
			// Seal validates the header; seal it anyway, by hand, to see Open refuse it.
			packet = sealUnchecked(mode, key, header, payload)
			if packet == nil {
				return
			}
			if _, err := o.Open(buf, packet); err == nil {
				h, _ := ParseRTPHeader(header)
				if h.ExtensionBodyLen() > len(header)-h.ClearLen()+len(payload) {
					t.Fatalf("opened a packet whose extension is longer than its body: %x", packet)
				}
			}
			return
		}
		p, err := o.Open(buf, packet)
		h, _ := ParseRTPHeader(header)
		if h.Padding {
			if err != nil && !errors.Is(err, ErrBadPadding) {
				t.Fatalf("padded packet: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Open of a sealed packet: %v", err)
		}
		if !bytes.Equal(p.Payload, payload) || !bytes.Equal(p.ExtensionBody, header[h.ClearLen():]) {
			t.Fatalf("round trip changed the packet: %+v", p)
		}
	})
}

// sealUnchecked encrypts as the mode would without validating the header: everything past the
// clear part the header announces is encrypted. It returns nil when the header cannot be parsed.
func sealUnchecked(mode Mode, key, header, payload []byte) []byte {
	h, err := ParseRTPHeader(header)
	if err != nil {
		return nil
	}
	if !mode.rtpsize() {
		s, _ := NewSealer(mode, key)
		return s.sealLegacy(nil, header, payload)
	}
	a, _ := newAEAD(mode, key)
	clearLen := h.ClearLen()
	plain := append(append([]byte(nil), header[clearLen:]...), payload...)
	out := a.Seal(append([]byte(nil), header[:clearLen]...), make([]byte, a.NonceSize()), plain, header[:clearLen])
	return append(out, 0, 0, 0, 0)
}
