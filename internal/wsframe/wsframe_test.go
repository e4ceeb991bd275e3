package wsframe

import (
	"bytes"
	"testing"
)

func TestTextRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		buf := append(make([]byte, MaxHeaderLen), payload...)
		frame := Text(buf)
		if len(frame) != HeaderLen(n)+n {
			t.Fatalf("n=%d: frame is %d bytes, want %d", n, len(frame), HeaderLen(n)+n)
		}
		if frame[0] != 0x81 {
			t.Fatalf("n=%d: first byte %#x, want FIN|text", n, frame[0])
		}
		op, got, ok := Parse(frame)
		if !ok || op != OpText || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: Parse = %d, %d bytes, %v", n, op, len(got), ok)
		}
	}
}

// The lengths that cross an encoding boundary use the shortest form, as RFC 6455 requires.
func TestHeaderLenBoundaries(t *testing.T) {
	for n, want := range map[int]int{125: 2, 126: 4, 65535: 4, 65536: 10} {
		if got := HeaderLen(n); got != want {
			t.Errorf("HeaderLen(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestParseRefusesWhatIsNotOneFrame(t *testing.T) {
	frame := Text(append(make([]byte, MaxHeaderLen), "hello"...))
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": frame[:len(frame)-1],
		"trailing":  append(append([]byte{}, frame...), 'x'),
		"masked":    {0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'},
	} {
		if _, _, ok := Parse(b); ok {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
	if Opcode([]byte{0x88, 0}) != OpClose || Opcode(nil) != 0 {
		t.Error("Opcode")
	}
}

func TestParseHeaderWaitsForTheWholeHeader(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  Header
	}{
		{"7-bit length", []byte{0x89, 5}, Header{Fin: true, Op: OpPing, Len: 2, PayloadLen: 5}},
		{"16-bit length", []byte{0x02, 126, 0x01, 0x00}, Header{Op: OpBinary, Len: 4, PayloadLen: 256}},
		{"64-bit length", []byte{0x80, 127, 0, 0, 0, 1, 0, 0, 0, 0}, Header{Fin: true, Op: OpContinuation, Len: 10, PayloadLen: 1 << 32}},
		{"reserved bits and a mask", []byte{0xc1, 0x85, 1, 2, 3, 4}, Header{Fin: true, Rsv: 0x40, Op: OpText, Masked: true, Len: 6, PayloadLen: 5}},
	}
	for _, tt := range tests {
		for cut := range len(tt.frame) {
			if h, ok := ParseHeader(tt.frame[:cut]); ok {
				t.Errorf("%s: a header of %d bytes parsed as %+v", tt.name, cut, h)
			}
		}
		if h, ok := ParseHeader(tt.frame); !ok || h != tt.want {
			t.Errorf("%s: %+v, %v; want %+v", tt.name, h, ok, tt.want)
		}
	}
}
