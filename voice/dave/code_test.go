package dave

import (
	"strings"
	"testing"

	"github.com/spellcoven/gateway/voice/dave/internal/daveytest"
)

func TestDisplayableCode(t *testing.T) {
	tests := []struct {
		name              string
		data              []byte
		length, groupSize int
		want              string
		err               string
	}{
		{"zeros", make([]byte, 30), 30, 5, strings.Repeat("0", 30), ""},
		{"one group", []byte{0, 0, 0, 0x30, 0x39}, 5, 5, "12345", ""},
		{"modulo", []byte{0xff, 0xff, 0xff, 0xff, 0xff}, 5, 5, "27775", ""}, // 2^40-1 mod 10^5
		{"group too large", make([]byte, 16), 8, 8, "", "group size"},
		{"length not a multiple", make([]byte, 16), 7, 5, "", "multiple"},
		{"not enough data", make([]byte, 4), 5, 5, "", "not enough"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DisplayableCode(tc.data, tc.length, tc.groupSize)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestDisplayableCodeMatchesDavey compares codes with davey's generateDisplayableCode.
func TestDisplayableCodeMatchesDavey(t *testing.T) {
	peer := daveytest.Start(t)
	data := make([]byte, 64)
	for i := range data {
		data[i] = byte(i*37 + 11)
	}
	for _, c := range []struct{ length, group int }{{30, 5}, {45, 5}, {12, 3}, {7, 7}} {
		var want struct {
			Code string `json:"code"`
		}
		peer.Must("displayableCode", map[string]any{"data": data, "length": c.length, "group": c.group}, &want)
		got, err := DisplayableCode(data, c.length, c.group)
		if err != nil || got != want.Code {
			t.Fatalf("length %d group %d: %q, %v; davey %q", c.length, c.group, got, err, want.Code)
		}
	}
}

// TestPairwiseFingerprintMatchesDavey compares fingerprints with davey's
// generatePairwiseFingerprint, and checks both members of a group see the same code.
func TestPairwiseFingerprintMatchesDavey(t *testing.T) {
	peer := daveytest.Start(t)
	a, _ := NewSession(Config{UserID: 158049329150427136, ChannelID: 1})
	b, _ := NewSession(Config{UserID: 41771983423143937, ChannelID: 1})
	got, err := PairwiseFingerprint(0, a.SignaturePublicKey(), a.cfg.UserID, b.SignaturePublicKey(), b.cfg.UserID)
	if err != nil {
		t.Fatal(err)
	}
	var want daveytest.Data
	peer.Must("pairwiseFingerprint", map[string]any{
		"localKey": a.SignaturePublicKey(), "localUserId": "158049329150427136",
		"remoteKey": b.SignaturePublicKey(), "remoteUserId": "41771983423143937",
	}, &want)
	if string(got) != string(want.Data) {
		t.Fatalf("fingerprint %x, davey %x", got, want.Data)
	}

	_, ms := goChannel(t, 1, 2)
	c1, err1 := ms[1].s.VerificationCode(2)
	c2, err2 := ms[2].s.VerificationCode(1)
	if err1 != nil || err2 != nil || c1 != c2 || len(c1) != 45 {
		t.Fatalf("verification codes %q (%v) and %q (%v)", c1, err1, c2, err2)
	}
	if _, err := ms[1].s.VerificationCode(99); err == nil {
		t.Fatal("code for a non-member")
	}
}
