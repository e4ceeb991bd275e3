package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// testNow is the verifiers' clock in table tests, so timestamps are exact.
var testNow = time.Unix(1_700_000_000, 0)

func fixedClock() time.Time { return testNow }

// Coven secrets used as raw HMAC keys.
const (
	covenSecretA = "coven-secret-alpha-0123456789"
	covenSecretB = "coven-secret-bravo-0123456789"
	covenSecretC = "coven-secret-charlie-012345678"
)

// Standard Webhooks secrets: A is the reference libraries' test secret (24-byte key),
// B and C are 32-byte keys.
var (
	standardSecretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardKeyA    = mustDecode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	standardKeyB    = []byte("standard-webhook-key-bravo-32byt")
	standardSecretB = "whsec_" + base64.StdEncoding.EncodeToString(standardKeyB)
	standardKeyC    = []byte("standard-webhook-key-charlie-32b")
)

func mustDecode(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// header builds an http.Header from name/value pairs with Add, so a name given twice
// yields a repeated header.
func header(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return h
}

func newVerifier(t testing.TB, cfg webhook.VerifierConfig) *webhook.Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedClock
	}
	v, err := webhook.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// assertNoSecrets fails if text contains any of secrets (secrets, keys or expected
// signatures, in any of their spellings).
func assertNoSecrets(t testing.TB, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%q leaks a secret value", text)
		}
	}
}

// githubStyleSignature signs body alone, as X-Hub-Signature-256 does: a signature the
// coven scheme must not accept, since it does not cover the timestamp.
func githubStyleSignature(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// checkHeadersAgree checks that CheckHeaders, which sees no body, refuses what Verify refuses for
// its headers or timestamp, and lets through what only the signature over the body decides.
func checkHeadersAgree(t *testing.T, v *webhook.Verifier, h http.Header, want error) {
	t.Helper()
	err := v.CheckHeaders(h)
	if want == nil || errors.Is(want, webhook.ErrNoMatchingSignature) {
		// A list without any v1 signature is refused from the headers alone.
		if err != nil && !errors.Is(err, webhook.ErrNoMatchingSignature) {
			t.Fatalf("CheckHeaders() = %v for a request whose headers are sound", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("CheckHeaders() = %v, want %v as Verify", err, want)
	}
}
