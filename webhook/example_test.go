package webhook_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// The worker signs each delivery attempt; the edge verifies it. Any change to the body
// after signing is caught.
func Example() {
	const secret = "example-coven-secret-0123456789"
	sentAt := time.Unix(1_700_000_000, 0)
	body := []byte(`{"epoch":"e1","events":[]}`)

	signer, err := webhook.NewSigner(webhook.SchemeCoven, secret)
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	if err := signer.Sign(h, body, sentAt, ""); err != nil {
		panic(err)
	}

	verifier, err := webhook.NewVerifier(webhook.VerifierConfig{
		Scheme:  webhook.SchemeCoven,
		Secrets: []string{secret},
		Now:     func() time.Time { return sentAt.Add(2 * time.Second) },
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("as sent:", verifier.Verify(h, body))
	err = verifier.Verify(h, []byte(`{"epoch":"e1","events":[{}]}`))
	fmt.Println("altered:", webhook.Reason(err))
	// Output:
	// as sent: <nil>
	// altered: mismatch
}

// Signing under Standard Webhooks sets webhook-id, webhook-timestamp and
// webhook-signature; these values are the reference libraries' test vector.
func ExampleSigner_Sign_standard() {
	signer, err := webhook.NewSigner(webhook.SchemeStandard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	err = signer.Sign(h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0), "msg_p5jXN8AQM9LWM0D4loKWxJek")
	if err != nil {
		panic(err)
	}
	fmt.Println(webhook.HeaderStandardID+":", h.Get(webhook.HeaderStandardID))
	fmt.Println(webhook.HeaderStandardTimestamp+":", h.Get(webhook.HeaderStandardTimestamp))
	fmt.Println(webhook.HeaderStandardSignature+":", h.Get(webhook.HeaderStandardSignature))
	// Output:
	// Webhook-Id: msg_p5jXN8AQM9LWM0D4loKWxJek
	// Webhook-Timestamp: 1614265330
	// Webhook-Signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// During key rotation the verifier accepts the new secret and the old one.
func ExampleNewVerifier_rotation() {
	verifier, err := webhook.NewVerifier(webhook.VerifierConfig{
		Scheme: webhook.SchemeStandard,
		Secrets: []string{
			"whsec_c3RhbmRhcmQtd2ViaG9vay1rZXktYnJhdm8tMzJieXQ=", // new
			"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",             // old, until every sender has switched
		},
		Tolerance: time.Minute,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(verifier)
	// Output:
	// webhook.Verifier{scheme: standard, secrets: 2, tolerance: 1m0s}
}
