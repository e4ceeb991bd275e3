package dave

import (
	"bytes"
	"testing"
	"time"
)

// testClock is a manual clock for retention and passthrough deadlines.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 0)} }

var testLimits = limits{retention: DefaultKeyRetention, maxGenerationGap: DefaultMaxGenerationGap, maxMissingNonces: DefaultMaxMissingNonces}

// pair returns an encryptor and a decryptor sharing one sender key.
func pair(t testing.TB, base []byte, clk *testClock) (*FrameEncryptor, *FrameDecryptor) {
	t.Helper()
	e := &FrameEncryptor{}
	e.setRatchet(newKeyRatchet(base))
	d := newFrameDecryptor(&testLimits, clk.now)
	d.addRatchet(newKeyRatchet(base))
	return e, d
}

func TestULEB128(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 - 1, 1<<63 + 5, 1<<64 - 1} {
		b := appendULEB128(nil, v)
		if len(b) != ulebSize(v) {
			t.Errorf("%d: size %d, ulebSize %d", v, len(b), ulebSize(v))
		}
		got, n, ok := readULEB128(b)
		if !ok || got != v || n != len(b) {
			t.Errorf("%d: read %d, %d, %v", v, got, n, ok)
		}
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"unfinished":   {0x80, 0x80},
		"past 64 bits": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		"eleven bytes": {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
	} {
		if _, _, ok := readULEB128(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestKeyRatchetVector checks the sender ratchet against the value davey's own test pins
// (generation 0 of a known base secret).
func TestKeyRatchetVector(t *testing.T) {
	base := []byte{206, 221, 97, 177, 184, 161, 202, 105, 4, 101, 84, 40, 44, 247, 11, 123}
	want := []byte{117, 48, 249, 169, 148, 94, 45, 46, 6, 208, 101, 31, 123, 42, 134, 75}
	r := newKeyRatchet(base)
	k, err := r.key(0)
	if err != nil || !bytes.Equal(k, want) {
		t.Fatalf("generation 0 key %x, %v; want %x", k, err, want)
	}
	if _, err := r.key(5); err != nil {
		t.Fatal(err)
	}
	r.erase(0)
	if _, err := r.key(0); err != errKeyErased {
		t.Fatalf("erased generation: %v", err)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	vp8Key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, bytes.Repeat([]byte{0x55}, 300)...)
	vp8Delta := append([]byte{0x31}, bytes.Repeat([]byte{0x66}, 120)...)
	tests := []struct {
		name      string
		codec     Codec
		frame     []byte
		clear     int // leading bytes expected unchanged in the protocol frame
		unchanged bool
	}{
		{"opus", CodecOpus, bytes.Repeat([]byte{0xAB}, 120), 0, false},
		{"opus one byte", CodecOpus, []byte{0x01}, 0, false},
		{"opus silence passes through", CodecOpus, []byte{0xF8, 0xFF, 0xFE}, 0, true},
		{"vp8 key frame keeps 10 bytes clear", CodecVP8, vp8Key, 10, false},
		{"vp8 delta frame keeps 1 byte clear", CodecVP8, vp8Delta, 1, false},
		{"vp8 key frame too short is encrypted whole", CodecVP8, []byte{0x10, 1, 2}, 0, false},
		{"empty frame", CodecOpus, nil, 0, false},
	}
	clk := newTestClock()
	e, d := pair(t, bytes.Repeat([]byte{7}, 16), clk)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := e.Encrypt(tc.codec, nil, tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unchanged {
				if !bytes.Equal(enc, tc.frame) {
					t.Fatalf("frame changed: %x", enc)
				}
			} else {
				if !IsProtocolFrame(enc) {
					t.Fatalf("not a protocol frame: %x", enc)
				}
				if !bytes.Equal(enc[:tc.clear], tc.frame[:tc.clear]) {
					t.Fatalf("clear prefix changed")
				}
				if len(tc.frame) > tc.clear+4 && bytes.Equal(enc[tc.clear:len(tc.frame)], tc.frame[tc.clear:]) {
					t.Fatalf("payload not encrypted")
				}
			}
			dec, err := d.Decrypt(nil, enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec, tc.frame) {
				t.Fatalf("decrypted %x, want %x", dec, tc.frame)
			}
		})
	}
}

func TestFrameRejections(t *testing.T) {
	clk := newTestClock()
	e, d := pair(t, bytes.Repeat([]byte{9}, 16), clk)
	good, err := e.Encrypt(CodecVP8, nil, append([]byte{0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9}, bytes.Repeat([]byte{3}, 50)...))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"ciphertext modified", flip(20), ErrDecrypt},
		{"clear header modified", flip(3), ErrDecrypt},
		{"tag modified", flip(len(good) - 15), ErrDecrypt},
		{"no marker", good[:len(good)-1], ErrUnencrypted},
		{"clear frame without passthrough", []byte("plain media"), ErrUnencrypted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := d.Decrypt(nil, tc.frame); err != tc.want {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := d.Decrypt(nil, good); err != nil {
		t.Fatalf("untouched frame after rejections: %v", err)
	}
	if _, err := d.Decrypt(nil, good); err != ErrDecrypt {
		t.Fatalf("replayed frame: %v, want %v", err, ErrDecrypt)
	}
}

func TestDecryptOutOfOrderAndReplay(t *testing.T) {
	clk := newTestClock()
	e, d := pair(t, bytes.Repeat([]byte{1}, 16), clk)
	var frames [][]byte
	for i := range 5 {
		f, err := e.Encrypt(CodecOpus, nil, []byte{byte(i), 1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	for _, i := range []int{0, 3, 1, 4, 2} {
		got, err := d.Decrypt(nil, frames[i])
		if err != nil || got[0] != byte(i) {
			t.Fatalf("frame %d: %x, %v", i, got, err)
		}
	}
	for i := range frames {
		if _, err := d.Decrypt(nil, frames[i]); err == nil {
			t.Fatalf("replay of frame %d accepted", i)
		}
	}
}

func TestOldEpochKeysExpire(t *testing.T) {
	clk := newTestClock()
	oldKey, newKey := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	e, d := pair(t, oldKey, clk)
	inFlight, _ := e.Encrypt(CodecOpus, nil, []byte("late"))
	lateAfterGrace, _ := e.Encrypt(CodecOpus, nil, []byte("too late"))

	d.addRatchet(newKeyRatchet(newKey))
	e.setRatchet(newKeyRatchet(newKey))
	d.retireOld()
	fresh, _ := e.Encrypt(CodecOpus, nil, []byte("new epoch"))

	if got, err := d.Decrypt(nil, fresh); err != nil || string(got) != "new epoch" {
		t.Fatalf("new epoch frame: %q, %v", got, err)
	}
	clk.advance(DefaultKeyRetention - time.Second)
	if got, err := d.Decrypt(nil, inFlight); err != nil || string(got) != "late" {
		t.Fatalf("old epoch frame within the grace period: %q, %v", got, err)
	}
	clk.advance(2 * time.Second)
	if _, err := d.Decrypt(nil, lateAfterGrace); err == nil {
		t.Fatal("old epoch frame decrypted after the grace period")
	}
}

func TestPassthroughWindow(t *testing.T) {
	clk := newTestClock()
	_, d := pair(t, bytes.Repeat([]byte{1}, 16), clk)
	clearFrame := []byte("clear media")
	d.setPassthrough(true)
	if got, err := d.Decrypt(nil, clearFrame); err != nil || !bytes.Equal(got, clearFrame) {
		t.Fatalf("passthrough on: %q, %v", got, err)
	}
	d.setPassthrough(false)
	clk.advance(DefaultKeyRetention / 2)
	if _, err := d.Decrypt(nil, clearFrame); err != nil {
		t.Fatalf("within the transition window: %v", err)
	}
	clk.advance(DefaultKeyRetention)
	if _, err := d.Decrypt(nil, clearFrame); err != ErrUnencrypted {
		t.Fatalf("after the window: %v, want %v", err, ErrUnencrypted)
	}
}

func TestGenerationRollover(t *testing.T) {
	clk := newTestClock()
	base := bytes.Repeat([]byte{4}, 16)
	e, d := pair(t, base, clk)
	// Jump the encryptor to just before generation 1.
	e.nonce = 1<<generationShift - 2
	clk.advance(time.Duration((1<<generationShift)/maxFramesPerSecond+2) * time.Second)
	for i := range 4 {
		f, err := e.Encrypt(CodecOpus, nil, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := d.Decrypt(nil, f); err != nil || got[0] != byte(i) {
			t.Fatalf("frame %d around the generation change: %v", i, err)
		}
	}
	if e.generation != 1 {
		t.Fatalf("encryptor generation %d, want 1", e.generation)
	}
}

func TestFutureGenerationRejected(t *testing.T) {
	clk := newTestClock()
	e, d := pair(t, bytes.Repeat([]byte{5}, 16), clk)
	// A fresh ratchet cannot have produced 2^24 frames yet.
	e.nonce = 1<<generationShift + 10
	f, _ := e.Encrypt(CodecOpus, nil, []byte{1})
	if _, err := d.Decrypt(nil, f); err == nil {
		t.Fatal("far-future generation accepted on a young ratchet")
	}
}

func TestWrappedGeneration(t *testing.T) {
	tests := []struct{ oldest, gen, want uint32 }{
		{0, 0, 0}, {0, 5, 5}, {250, 255, 255}, {250, 3, 259}, {256, 0, 256}, {300, 44, 300}, {300, 40, 552},
	}
	for _, tc := range tests {
		if got := wrappedGeneration(tc.oldest, tc.gen); got != tc.want {
			t.Errorf("wrappedGeneration(%d, %d) = %d, want %d", tc.oldest, tc.gen, got, tc.want)
		}
	}
}

func TestDecryptorLimits(t *testing.T) {
	key := bytes.Repeat([]byte{6}, 16)
	tests := []struct {
		name string
		lim  limits
		run  func(t *testing.T, e *FrameEncryptor, d *FrameDecryptor, clk *testClock)
	}{
		{"generation gap", limits{retention: time.Second, maxGenerationGap: 2, maxMissingNonces: 10}, func(t *testing.T, e *FrameEncryptor, d *FrameDecryptor, clk *testClock) {
			clk.advance(1_000_000 * time.Second) // old enough for any generation
			e.nonce = 3<<generationShift - 1     // next frame is generation 3, gap 3 > 2
			f, _ := e.Encrypt(CodecOpus, nil, []byte{1})
			if _, err := d.Decrypt(nil, f); err == nil {
				t.Fatal("frame 3 generations ahead accepted with MaxGenerationGap 2")
			}
			e2 := &FrameEncryptor{}
			e2.setRatchet(newKeyRatchet(key))
			e2.nonce = 2<<generationShift - 1
			f, _ = e2.Encrypt(CodecOpus, nil, []byte{2})
			if _, err := d.Decrypt(nil, f); err != nil {
				t.Fatalf("frame 2 generations ahead: %v", err)
			}
		}},
		{"missing nonces", limits{retention: time.Second, maxGenerationGap: 10, maxMissingNonces: 3}, func(t *testing.T, e *FrameEncryptor, d *FrameDecryptor, clk *testClock) {
			var frames [][]byte
			for i := range 10 {
				f, _ := e.Encrypt(CodecOpus, nil, []byte{byte(i)})
				frames = append(frames, f)
			}
			for _, i := range []int{0, 9} { // nonces 1 and 10: 2-9 are missing, 7-9 remembered
				if _, err := d.Decrypt(nil, frames[i]); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.Decrypt(nil, frames[7]); err != nil { // nonce 8, within the last 3
				t.Fatalf("late frame within MaxMissingNonces: %v", err)
			}
			if _, err := d.Decrypt(nil, frames[4]); err == nil { // nonce 5, forgotten
				t.Fatal("late frame beyond MaxMissingNonces accepted")
			}
		}},
		{"short retention", limits{retention: 3 * time.Second, maxGenerationGap: 10, maxMissingNonces: 10}, func(t *testing.T, e *FrameEncryptor, d *FrameDecryptor, clk *testClock) {
			old, _ := e.Encrypt(CodecOpus, nil, []byte{1})
			d.addRatchet(newKeyRatchet(bytes.Repeat([]byte{7}, 16)))
			d.retireOld()
			clk.advance(4 * time.Second)
			if _, err := d.Decrypt(nil, old); err == nil {
				t.Fatal("old epoch frame decrypted after a 3 s retention")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			e := &FrameEncryptor{}
			e.setRatchet(newKeyRatchet(key))
			lim := tc.lim
			d := newFrameDecryptor(&lim, clk.now)
			d.addRatchet(newKeyRatchet(key))
			tc.run(t, e, d, clk)
		})
	}
}
