package voice

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
)

// cryptoVector is one entry of testdata/crypto_vectors.json, produced by
// testdata/crosscheck/vectors.js with libsodium and Node's crypto.
type cryptoVector struct {
	Name          string   `json:"name"`
	Mode          Mode     `json:"mode"`
	Key           hexBytes `json:"key"`
	Counter       uint32   `json:"counter"`
	Header        hexBytes `json:"header"`
	ExtensionBody hexBytes `json:"extension_body"`
	SealedPayload hexBytes `json:"sealed_payload"`
	Payload       hexBytes `json:"payload"`
	Marker        bool     `json:"marker"`
	PayloadType   uint8    `json:"payload_type"`
	Sequence      uint16   `json:"sequence"`
	Timestamp     uint32   `json:"timestamp"`
	SSRC          uint32   `json:"ssrc"`
	CSRCs         []uint32 `json:"csrcs"`
	Packet        hexBytes `json:"packet"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadCryptoVectors(t *testing.T) []cryptoVector {
	t.Helper()
	data, err := os.ReadFile("testdata/crypto_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []cryptoVector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 20 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

// TestCryptoVectorsOpen decrypts packets sealed by libsodium and Node's crypto.
func TestCryptoVectorsOpen(t *testing.T) {
	for _, v := range loadCryptoVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			o, err := NewOpener(v.Mode, v.Key)
			if err != nil {
				t.Fatal(err)
			}
			p, err := o.Open(make([]byte, 0, 1500), v.Packet)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if p.Marker != v.Marker || p.PayloadType != v.PayloadType || p.Sequence != v.Sequence ||
				p.Timestamp != v.Timestamp || p.SSRC != v.SSRC || p.CSRCCount != len(v.CSRCs) {
				t.Errorf("header = %+v, want marker %v pt %d seq %d ts %d ssrc %d csrcs %d",
					p.RTPHeader, v.Marker, v.PayloadType, v.Sequence, v.Timestamp, v.SSRC, len(v.CSRCs))
			}
			for i, c := range v.CSRCs {
				if got := p.CSRC(v.Packet, i); got != c && v.Mode != ModeXSalsa20Poly1305 {
					t.Errorf("CSRC %d = %d, want %d", i, got, c)
				}
			}
			if !bytes.Equal(p.ExtensionBody, v.ExtensionBody) {
				t.Errorf("extension body = %x, want %x", p.ExtensionBody, v.ExtensionBody)
			}
			if !bytes.Equal(p.Payload, v.Payload) {
				t.Errorf("payload = %x, want %x", p.Payload, v.Payload)
			}
		})
	}
}

// TestCryptoVectorsSeal seals the same inputs and must produce the same bytes.
func TestCryptoVectorsSeal(t *testing.T) {
	for _, v := range loadCryptoVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			s, err := NewSealer(v.Mode, v.Key)
			if err != nil {
				t.Fatal(err)
			}
			s.SetCounter(v.Counter)
			header := append(slices.Clone(v.Header), v.ExtensionBody...)
			got, err := s.Seal(nil, header, v.SealedPayload)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if !bytes.Equal(got, v.Packet) {
				t.Errorf("sealed\n %x\nwant\n %x", got, v.Packet)
			}
		})
	}
}

// TestCrossCheckVectorsAreCurrent re-runs the independent generator: the committed vectors must
// be exactly what libsodium and Node's crypto produce today.
func TestCrossCheckVectorsAreCurrent(t *testing.T) {
	got := runNode(t, "crosscheck", nil, "vectors.js", "generate")
	want, err := os.ReadFile("testdata/crypto_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/crypto_vectors.json differs from what vectors.js generates; run go generate ./voice")
	}
}

// TestCrossCheckNodeOpensGoPackets seals packets in Go with random keys and has libsodium and
// Node's crypto open them.
func TestCrossCheckNodeOpensGoPackets(t *testing.T) {
	type sealed struct {
		Mode   Mode   `json:"mode"`
		Key    string `json:"key"`
		Packet string `json:"packet"`
	}
	type opened struct {
		OK        bool   `json:"ok"`
		Error     string `json:"error"`
		Payload   string `json:"payload"`
		Extension string `json:"extension"`
	}
	type input struct {
		name    string
		header  []byte
		payload []byte
	}
	inputs := []input{
		{"audio", appendRTPHeader(nil, false, PayloadTypeOpus, 65535, 4294966336, 7, nil), randomBytes(t, 140)},
		{"video with extension", appendRTPHeader(nil, true, PayloadTypeVP8, 1, 90000, 8, videoExtension), randomBytes(t, 1100)},
		{"silence", appendRTPHeader(nil, false, PayloadTypeOpus, 2, 960, 7, nil), silenceFrame},
	}
	var batch []sealed
	var want []input
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305} {
		key := randomBytes(t, KeySize)
		s, err := NewSealer(mode, key)
		if err != nil {
			t.Fatal(err)
		}
		s.SetCounter(0xFFFFFFFE) // crosses the wrap
		for _, in := range inputs {
			p, err := s.Seal(nil, in.header, in.payload)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, sealed{mode, hex.EncodeToString(key), hex.EncodeToString(p)})
			want = append(want, in)
		}
	}
	stdin, _ := json.Marshal(batch)
	var got []opened
	if err := json.Unmarshal(runNode(t, "crosscheck", stdin, "vectors.js", "open"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("node answered %d results for %d packets", len(got), len(want))
	}
	for i, g := range got {
		name := string(batch[i].Mode) + "/" + want[i].name
		if !g.OK {
			t.Errorf("%s: node could not open: %s", name, g.Error)
			continue
		}
		if g.Payload != hex.EncodeToString(want[i].payload) {
			t.Errorf("%s: node decrypted payload %s", name, g.Payload)
		}
		wantExt := ""
		if bytes.Equal(want[i].header[len(want[i].header)-len(videoExtension):], videoExtension) && want[i].header[0]&0x10 != 0 {
			wantExt = hex.EncodeToString(videoExtension)
		}
		if g.Extension != wantExt {
			t.Errorf("%s: node decrypted extension %q, want %q", name, g.Extension, wantExt)
		}
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenRejects lists what a receiver must refuse, in every mode.
func TestOpenRejects(t *testing.T) {
	modes := []Mode{ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305}
	for _, mode := range modes {
		key := randomBytes(t, KeySize)
		s, _ := NewSealer(mode, key)
		good, err := s.Seal(nil, appendRTPHeader(nil, false, PayloadTypeOpus, 1, 960, 9, nil), []byte("opus"))
		if err != nil {
			t.Fatal(err)
		}
		flip := func(i int) []byte {
			p := slices.Clone(good)
			if i < 0 {
				i += len(p)
			}
			p[i] ^= 1
			return p
		}
		cases := []struct {
			name   string
			packet []byte
			key    []byte
			want   error
		}{
			{"wrong key", good, randomBytes(t, KeySize), ErrDecrypt},
			{"tampered sequence number", flip(3), key, ErrDecrypt},
			{"tampered ciphertext", flip(13), key, ErrDecrypt},
			{"tampered tag or counter", flip(-1), key, ErrDecrypt},
			{"truncated", good[:len(good)-1], key, ErrDecrypt},
			{"shorter than a header", good[:8], key, ErrShortPacket},
			{"header without room for a tag", good[:14], key, ErrShortPacket},
			{"version 1", append([]byte{0x40}, good[1:]...), key, ErrNotRTP},
			{"rtcp receiver report", []byte{0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, key, ErrRTCP},
		}
		for _, c := range cases {
			t.Run(string(mode)+"/"+c.name, func(t *testing.T) {
				o, err := NewOpener(mode, c.key)
				if err != nil {
					t.Fatal(err)
				}
				before := slices.Clone(c.packet)
				if _, err := o.Open(nil, c.packet); !errors.Is(err, c.want) {
					t.Fatalf("Open = %v, want %v", err, c.want)
				}
				if !bytes.Equal(before, c.packet) {
					t.Fatal("Open modified its input")
				}
			})
		}
	}
}

// TestOpenRejectsBadLayout builds packets whose authenticated contents lie about their layout:
// the extension or padding announced is longer than what was encrypted.
func TestOpenRejectsBadLayout(t *testing.T) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305} {
		key := randomBytes(t, KeySize)
		cases := []struct {
			name    string
			header  []byte
			payload []byte
			want    error
		}{
			{"extension longer than the plaintext", []byte{0x90, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 9}, []byte{1, 2, 3, 4}, ErrBadExtension},
			{"padding longer than the payload", []byte{0xA0, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{1, 2, 9}, ErrBadPadding},
			{"padding of zero", []byte{0xA0, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{1, 2, 0}, ErrBadPadding},
			{"padding on an empty payload", []byte{0xA0, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, nil, ErrBadPadding},
		}
		for _, c := range cases {
			t.Run(string(mode)+"/"+c.name, func(t *testing.T) {
				// Seal by hand: Seal refuses a header whose extension does not match its length.
				a, _ := newAEAD(mode, key)
				nonce := make([]byte, a.NonceSize())
				packet := a.Seal(slices.Clone(c.header), nonce, c.payload, c.header)
				packet = append(packet, 0, 0, 0, 0)
				o, _ := NewOpener(mode, key)
				if _, err := o.Open(nil, packet); !errors.Is(err, c.want) {
					t.Fatalf("Open = %v, want %v", err, c.want)
				}
			})
		}
	}
}

func TestSealRejectsBadHeader(t *testing.T) {
	s, _ := NewSealer(ModeAES256GCM, make([]byte, KeySize))
	cases := []struct {
		name   string
		header []byte
		want   error
	}{
		{"short", []byte{0x80, 120, 0}, ErrShortPacket},
		{"extension body missing", []byte{0x90, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1}, ErrBadExtension},
		{"trailing bytes", []byte{0x80, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5}, ErrBadExtension},
		{"not rtp", []byte{0x00, 120, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, ErrNotRTP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := s.Seal([]byte("keep"), c.header, []byte("x"))
			if !errors.Is(err, c.want) {
				t.Fatalf("Seal = %v, want %v", err, c.want)
			}
			if string(out) != "keep" {
				t.Fatalf("Seal changed dst to %q", out)
			}
		})
	}
}

func TestNewSealerRejects(t *testing.T) {
	cases := []struct {
		name string
		mode Mode
		key  []byte
	}{
		{"unknown mode", "aead_aes256_gcm", make([]byte, KeySize)},
		{"empty mode", "", make([]byte, KeySize)},
		{"short key", ModeAES256GCM, make([]byte, 16)},
		{"long key", ModeXChaCha20Poly1305, make([]byte, 33)},
		{"legacy with short key", ModeXSalsa20Poly1305, make([]byte, 31)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewSealer(c.mode, c.key); err == nil {
				t.Error("NewSealer accepted it")
			}
			if _, err := NewOpener(c.mode, c.key); err == nil {
				t.Error("NewOpener accepted it")
			}
		})
	}
}

func TestChooseMode(t *testing.T) {
	all := []string{string(ModeAES256GCM), string(ModeXChaCha20Poly1305), string(ModeXSalsa20Poly1305), "aead_aes256_gcm"}
	cases := []struct {
		name      string
		offered   []string
		preferred []Mode
		want      Mode
		wantErr   bool
	}{
		{"aes-gcm preferred when offered", all, DefaultModes, ModeAES256GCM, false},
		{"xchacha when aes-gcm is absent", []string{string(ModeXChaCha20Poly1305), string(ModeXSalsa20Poly1305)}, DefaultModes, ModeXChaCha20Poly1305, false},
		{"legacy never chosen by default", []string{string(ModeXSalsa20Poly1305)}, DefaultModes, "", true},
		{"legacy on explicit opt-in", []string{string(ModeXSalsa20Poly1305)}, append(slices.Clone(DefaultModes), ModeXSalsa20Poly1305), ModeXSalsa20Poly1305, false},
		{"client preference order wins", all, []Mode{ModeXChaCha20Poly1305, ModeAES256GCM}, ModeXChaCha20Poly1305, false},
		{"unknown preferred modes are skipped", all, []Mode{"rot13", ModeAES256GCM}, ModeAES256GCM, false},
		{"nothing offered", nil, DefaultModes, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ChooseMode(c.offered, c.preferred)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("ChooseMode = %q, %v; want %q (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}

// TestSealOpenAllocateNothing is the steady state of both directions: with buffers of the
// right capacity, neither sealing nor opening allocates, in any mode.
func TestSealOpenAllocateNothing(t *testing.T) {
	for _, mode := range []Mode{ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305} {
		t.Run(string(mode), func(t *testing.T) {
			key := randomBytes(t, KeySize)
			s, _ := NewSealer(mode, key)
			o, _ := NewOpener(mode, key)
			header := appendRTPHeader(nil, true, PayloadTypeVP8, 1, 90000, 8, videoExtension)
			payload := randomBytes(t, 1000)
			sealBuf := make([]byte, 0, 1500)
			openBuf := make([]byte, 0, 1500)
			var err error
			allocs := testing.AllocsPerRun(100, func() {
				var p Packet
				if sealBuf, err = s.Seal(sealBuf[:0], header, payload); err != nil {
					t.Fatal(err)
				}
				if p, err = o.Open(openBuf, sealBuf); err != nil || !bytes.Equal(p.Payload, payload) {
					t.Fatalf("round trip: %v", err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per packet", allocs)
			}
		})
	}
}
