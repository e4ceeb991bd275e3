package webhook

import (
	"crypto/sha256"
	"net/http"
	"testing"
	"time"
)

// Published test vectors. They pin the MAC construction and the header formats to
// values computed by others, so a change that is merely self-consistent cannot pass.

// GitHub's "Validating webhook deliveries" documentation: X-Hub-Signature-256 of the
// payload alone.
const (
	githubSecret    = "It's a Secret to Everybody"
	githubPayload   = "Hello, World!"
	githubSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

// The Standard Webhooks reference libraries' signing vector (the "sign function works"
// test of standard-webhooks/standard-webhooks libraries/javascript/src/webhook.test.ts,
// also in the Python suite).
const (
	standardVectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardVectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	standardVectorTimestamp = 1614265330
	standardVectorPayload   = `{"test": 2432232314}`
	standardVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// TestGitHubVector checks the keyed HMAC state and the coven signature format against
// GitHub's published value, which signs the payload alone.
func TestGitHubVector(t *testing.T) {
	set := newMACSet([][]byte{[]byte(githubSecret)})
	h := set.hashes[0]
	set.writeString(h, githubPayload)
	var mac [sha256.Size]byte
	h.Sum(mac[:0])
	if got := string(appendCovenSignature(nil, &mac)); got != githubSignature {
		t.Fatalf("signature of the GitHub vector = %s, want %s", got, githubSignature)
	}
	parsed, ok := parseCovenSignature(githubSignature)
	if !ok || parsed != mac {
		t.Fatalf("parseCovenSignature(%s) = %x, %t; want %x, true", githubSignature, parsed, ok, mac)
	}
}

// TestCovenConstruction checks that the coven scheme signs "<ts>.<body>" and nothing
// else: SignCoven must equal the vetted payload-alone MAC of that exact string, and a
// value computed independently with
// printf '1614265330.Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody".
func TestCovenConstruction(t *testing.T) {
	const (
		ts      = 1614265330
		openssl = "sha256=f37376a318b83773050e9e3ac8c6d599d2254e4f69edd75a1419cb54dc7264f3"
	)
	got := SignCoven([]byte(githubSecret), ts, []byte(githubPayload))
	if got != openssl {
		t.Fatalf("SignCoven() = %s, want %s", got, openssl)
	}
	set := newMACSet([][]byte{[]byte(githubSecret)})
	set.writeString(set.hashes[0], "1614265330."+githubPayload)
	var mac [sha256.Size]byte
	set.hashes[0].Sum(mac[:0])
	if want := string(appendCovenSignature(nil, &mac)); got != want {
		t.Fatalf("SignCoven() = %s, but the MAC of \"<ts>.<body>\" is %s", got, want)
	}
	if got == githubSignature {
		t.Fatalf("SignCoven() ignored the timestamp")
	}
}

func TestStandardVector(t *testing.T) {
	key, err := parseKey(SchemeStandard, standardVectorSecret)
	if err != nil {
		t.Fatalf("parseKey: %v", err)
	}
	if got := SignStandard(key, standardVectorID, standardVectorTimestamp, []byte(standardVectorPayload)); got != standardVectorSignature {
		t.Fatalf("SignStandard() = %s, want %s", got, standardVectorSignature)
	}

	sentAt := time.Unix(standardVectorTimestamp, 0)
	signer, err := NewSigner(SchemeStandard, standardVectorSecret)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	h := http.Header{}
	if err := signer.Sign(h, []byte(standardVectorPayload), sentAt, standardVectorID); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got := h.Get(HeaderStandardSignature); got != standardVectorSignature {
		t.Fatalf("Signer set %s = %s, want %s", HeaderStandardSignature, got, standardVectorSignature)
	}

	// The reference suites accept the secret with and without its prefix.
	for _, secret := range []string{standardVectorSecret, standardVectorSecret[len("whsec_"):]} {
		v, err := NewVerifier(VerifierConfig{
			Scheme:  SchemeStandard,
			Secrets: []string{secret},
			Now:     func() time.Time { return sentAt.Add(time.Minute) },
		})
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		vectorHeader := http.Header{}
		vectorHeader.Set("webhook-id", standardVectorID)
		vectorHeader.Set("webhook-timestamp", "1614265330")
		vectorHeader.Set("webhook-signature", standardVectorSignature)
		if err := v.Verify(vectorHeader, []byte(standardVectorPayload)); err != nil {
			t.Fatalf("Verify(vector) with secret prefix %t = %v", secret == standardVectorSecret, err)
		}
	}
}
