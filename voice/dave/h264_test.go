package dave

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp/codecs"
)

// Parameter sets of a 160x120 constrained baseline stream from libx264.
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0xda, 0x0a, 0x11, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x8f, 0x14, 0x2a, 0xa0}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

// testH264Frame is an IDR access unit as an encoder writes it: SPS and PPS after 4-byte start
// codes, and an IDR slice of n bytes after a 3-byte one. Its slice header starts 0x88 0x84
// (first_mb_in_slice 0, slice_type 7, pps 0: 7 bits, then more).
func testH264Frame(n int) []byte {
	f := append([]byte{0, 0, 0, 1}, testSPS...)
	f = append(append(f, 0, 0, 0, 1), testPPS...)
	f = append(f, 0, 0, 1, 0x65, 0x88, 0x84)
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	for range n {
		b := byte(rng.Uint32())
		if b == 0 {
			b = 0x5a // no emulation-prevention needs in the slice data
		}
		f = append(f, b)
	}
	return f
}

// expectedH264 is what a frame looks like in transit (long start codes) and its clear ranges.
func expectedH264(frame []byte) ([]byte, []clearRange) {
	media, ranges, err := h264Layout(nil, nil, frame)
	if err != nil {
		panic(err)
	}
	return media, ranges
}

// checkH264Layout checks a protocol frame of an H.264 frame: the clear ranges are the start
// codes, the non-VCL NAL units whole and the slice's header with the first bytes of its slice
// header, which stay unchanged; it returns the frame a receiver decrypts.
func checkH264Layout(t testing.TB, enc, frame []byte) []byte {
	t.Helper()
	var f protocolFrame
	if err := f.parse(enc); err != nil {
		t.Fatalf("not a protocol frame: %v", err)
	}
	want, wantRanges := expectedH264(frame)
	if len(f.media) != len(want) {
		t.Fatalf("media frame of %d bytes, want %d", len(f.media), len(want))
	}
	got := f.ranges[:f.nrange]
	if len(got) != len(wantRanges) {
		t.Fatalf("clear ranges %v, want %v", got, wantRanges)
	}
	for i := range got {
		if got[i] != wantRanges[i] {
			t.Fatalf("clear ranges %v, want %v", got, wantRanges)
		}
		r := got[i]
		if !bytes.Equal(f.media[r.offset:r.offset+r.size], want[r.offset:r.offset+r.size]) {
			t.Fatalf("clear range %v changed", r)
		}
	}
	return want
}

func TestH264Layout(t *testing.T) {
	frame := testH264Frame(200)
	media, ranges := expectedH264(frame)
	// SPS and PPS with their start codes, then the slice's start code, NAL header and the two
	// bytes covering first_mb_in_slice, slice_type and pic_parameter_set_id.
	clear := 4 + len(testSPS) + 4 + len(testPPS) + 4 + 1 + 2
	if len(ranges) != 1 || ranges[0] != (clearRange{0, clear}) {
		t.Fatalf("ranges %v, want [{0 %d}]", ranges, clear)
	}
	if len(media) != len(frame)+1 || !bytes.Equal(media[clear-7:clear-3], []byte{0, 0, 0, 1}) {
		t.Fatalf("the slice's start code is not made long: % x", media[clear-8:clear])
	}
	// Two slices: each keeps its header clear, the data between is encrypted.
	two := append(testH264Frame(50), 0, 0, 0, 1, 0x41, 0x9a, 0x20, 0x33, 0x44, 0x55)
	_, ranges = expectedH264(two)
	if len(ranges) != 2 || ranges[1].size != 4+1+1 { // 0x9a: 1 | 00110 | 1: three values in 7 bits
		t.Fatalf("two slices: ranges %v", ranges)
	}
	// Emulation prevention bytes inside the slice header are skipped while counting bits: a
	// first value of 23 leading zeros (00 00 [03] 01), its 23 bits, then two 1-bit values end
	// at bit 57 of the payload (8 bytes).
	if n := h264SliceHeaderClear([]byte{0, 0, 3, 1, 0xAB, 0xCD, 0x01, 0x80, 0x55}); n != 8 {
		t.Fatalf("slice header across an emulation prevention byte covers %d bytes, want 8", n)
	}
	if _, _, err := h264Layout(nil, nil, []byte{0x65, 1, 2, 3}); err != ErrBadH264Frame {
		t.Fatalf("frame without start code: %v", err)
	}
}

func TestH264RoundTripThroughPacketizer(t *testing.T) {
	clk := newTestClock()
	e, d := pair(t, bytes.Repeat([]byte{4}, 16), clk)
	payloader := &codecs.H264Payloader{}
	for i := range 300 {
		frame := testH264Frame(100 + i*37)
		if i%3 != 0 {
			// A P slice (NAL type 1) alone.
			frame = append([]byte{0, 0, 0, 1, 0x41, 0x9a}, frame[len(frame)-50-i*30:]...)
		}
		enc, err := e.Encrypt(CodecH264, nil, frame)
		if err != nil {
			t.Fatal(err)
		}
		want := checkH264Layout(t, enc, frame)
		// The receiver decrypts what an RTP depacketizer rebuilds.
		var depacketizer codecs.H264Packet
		var got []byte
		for _, p := range payloader.Payload(1100, enc) {
			out, err := depacketizer.Unmarshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
		}
		plain, err := d.Decrypt(nil, got)
		if err != nil {
			t.Fatalf("frame %d: the depacketized frame does not decrypt: %v", i, err)
		}
		if !bytes.Equal(plain, want) {
			t.Fatalf("frame %d: decrypted another frame", i)
		}
	}
}

func TestH264CiphertextValidation(t *testing.T) {
	media := []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x11, 0x22, 0x33, 0x44}
	ranges := []clearRange{{0, 7}}
	supplement := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 7, 0xFA, 0xFA}
	ok := append(bytes.Clone(media), supplement...)
	if !h264CiphertextValid(ok, ranges) {
		t.Fatal("a frame without start codes in its ciphertext is refused")
	}
	for name, bad := range map[string][]byte{
		"start code inside the ciphertext": {0, 0, 0, 1, 0x65, 0x88, 0x84, 0x11, 0x00, 0x00, 0x01},
		"start code across the clear edge": {0, 0, 0, 1, 0x65, 0x88, 0x00, 0x00, 0x01, 0x33, 0x44},
	} {
		if h264CiphertextValid(append(bad, supplement...), ranges) {
			t.Errorf("%s: accepted", name)
		}
	}
	tagStart := append(bytes.Clone(media[:len(media)-2]), 0, 0)
	if h264CiphertextValid(append(tagStart, 1, 9, 9, 9, 9, 9, 9, 9, 9, 1, 7, 0xFA, 0xFA), ranges) {
		t.Error("start code across the ciphertext and the tag: accepted")
	}
}

func TestH264PassthroughAndErrors(t *testing.T) {
	e := &FrameEncryptor{}
	if _, err := e.Encrypt(CodecH264, nil, testH264Frame(10)); err != ErrNoKey {
		t.Fatalf("no key: %v", err)
	}
	e.setPassthrough()
	frame := testH264Frame(10)
	out, err := e.Encrypt(CodecH264, nil, frame)
	if err != nil || !bytes.Equal(out, frame) {
		t.Fatalf("passthrough changed the frame: %v", err)
	}
	clk := newTestClock()
	e, _ = pair(t, bytes.Repeat([]byte{5}, 16), clk)
	if _, err := e.Encrypt(CodecH264, nil, []byte{1, 2, 3, 4, 5}); err != ErrBadH264Frame {
		t.Fatalf("not Annex B: %v", err)
	}
}
