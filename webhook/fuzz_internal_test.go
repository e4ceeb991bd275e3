package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseCovenSignature: parsing never panics, and whatever parses is the one
// canonical spelling of its MAC.
func FuzzParseCovenSignature(f *testing.F) {
	f.Add(githubSignature)
	f.Add("sha256=")
	f.Add("SHA256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17")
	f.Fuzz(func(t *testing.T, s string) {
		mac, ok := parseCovenSignature(s)
		if !ok {
			return
		}
		if got := string(appendCovenSignature(nil, &mac)); got != s {
			t.Fatalf("parseCovenSignature(%q) accepted a non-canonical form of %q", s, got)
		}
	})
}

// FuzzParseStandardSignatures: checking a list never panics, agrees with a plain
// split-on-spaces reading of it, and every accepted v1 entry is canonical base64.
func FuzzParseStandardSignatures(f *testing.F) {
	f.Add(standardVectorSignature)
	f.Add("v1,abc v1a,xyz " + standardVectorSignature)
	f.Add("  ,  v1, ")
	f.Fuzz(func(t *testing.T, list string) {
		const maxEntries = 64
		v1, err := checkStandardSignatures(list, maxEntries)
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("checkStandardSignatures(%q) = %v, not a malformed-signature error", list, err)
			}
			return
		}
		want := 0
		for _, entry := range strings.Split(list, " ") {
			if entry == "" {
				continue
			}
			mac, isV1, err := parseStandardEntry(entry)
			if err != nil {
				t.Fatalf("list %q accepted, but its entry %q is malformed: %v", list, entry, err)
			}
			if !isV1 {
				continue
			}
			want++
			if got := string(appendStandardSignature(nil, &mac)); got != entry {
				t.Fatalf("entry %q accepted as a non-canonical form of %q", entry, got)
			}
		}
		if v1 != want {
			t.Fatalf("checkStandardSignatures(%q) counted %d v1 signatures, want %d", list, v1, want)
		}
	})
}

// FuzzVerify feeds arbitrary headers and bodies to a verifier of each scheme. Verify
// must never panic, must classify every failure, and may only accept a request whose
// signature is the one the scheme's signer computes for it.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	const ts = "1700000000"
	covenSecret := "fuzz-coven-secret-0123456789"
	standardKey := []byte("fuzz-standard-webhook-key-32byte")
	standardSecret := "whsec_" + strictBase64.EncodeToString(standardKey)
	f.Add("msg_1", ts, SignCoven([]byte(covenSecret), now.Unix(), []byte("{}")), []byte("{}"))
	f.Add("msg_1", ts, "v1a,x "+SignStandard(standardKey, "msg_1", now.Unix(), []byte("{}")), []byte("{}"))
	f.Add("", "", "", []byte(nil))

	clock := func() time.Time { return now }
	coven, err := NewVerifier(VerifierConfig{Scheme: SchemeCoven, Secrets: []string{covenSecret}, Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	standard, err := NewVerifier(VerifierConfig{Scheme: SchemeStandard, Secrets: []string{standardSecret}, Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, signature string, body []byte) {
		h := http.Header{}
		h.Set(HeaderCovenTimestamp, ts)
		h.Set(HeaderCovenSignature, signature)
		h.Set(HeaderStandardID, id)
		h.Set(HeaderStandardTimestamp, ts)
		h.Set(HeaderStandardSignature, signature)

		err := coven.Verify(h, body)
		if err != nil && Reason(err) == ReasonUnknown {
			t.Fatalf("coven Verify returned an unclassified error: %v", err)
		}
		if err == nil {
			unix, _ := strconv.ParseInt(ts, 10, 64)
			if want := SignCoven([]byte(covenSecret), unix, body); signature != want {
				t.Fatalf("coven Verify accepted %q, the signature is %q", signature, want)
			}
		}

		err = standard.Verify(h, body)
		if err != nil && Reason(err) == ReasonUnknown {
			t.Fatalf("standard Verify returned an unclassified error: %v", err)
		}
		if err == nil {
			unix, _ := strconv.ParseInt(ts, 10, 64)
			want := SignStandard(standardKey, id, unix, body)
			if !strings.Contains(" "+signature+" ", " "+want+" ") {
				t.Fatalf("standard Verify accepted %q, the signature is %q", signature, want)
			}
		}
	})
}
