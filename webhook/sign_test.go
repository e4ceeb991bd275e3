package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

func TestSignerRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		scheme webhook.Scheme
		secret string
		msgID  string
		body   string
		set    []string // headers Sign must set
		unset  []string // headers Sign must not set
	}{
		{
			name: "coven", scheme: webhook.SchemeCoven, secret: covenSecretA, body: `{"events":[]}`,
			set:   []string{webhook.HeaderCovenTimestamp, webhook.HeaderCovenSignature},
			unset: []string{webhook.HeaderStandardID, webhook.HeaderStandardTimestamp, webhook.HeaderStandardSignature},
		},
		{
			name: "coven ignores the message id", scheme: webhook.SchemeCoven, secret: covenSecretA, msgID: "evt.1", body: "x",
			set:   []string{webhook.HeaderCovenTimestamp, webhook.HeaderCovenSignature},
			unset: []string{webhook.HeaderStandardID},
		},
		{
			name: "standard", scheme: webhook.SchemeStandard, secret: standardSecretB, msgID: "msg_1", body: `{"events":[]}`,
			set:   []string{webhook.HeaderStandardID, webhook.HeaderStandardTimestamp, webhook.HeaderStandardSignature},
			unset: []string{webhook.HeaderCovenTimestamp, webhook.HeaderCovenSignature},
		},
		{
			name: "standard, empty body", scheme: webhook.SchemeStandard, secret: standardSecretB, msgID: "msg_2",
			set: []string{webhook.HeaderStandardID, webhook.HeaderStandardTimestamp, webhook.HeaderStandardSignature},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := webhook.NewSigner(tc.scheme, tc.secret)
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			h := http.Header{}
			if err := signer.Sign(h, []byte(tc.body), testNow, tc.msgID); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			for _, name := range tc.set {
				if len(h.Values(name)) != 1 {
					t.Errorf("header %s = %q, want one value", name, h.Values(name))
				}
			}
			for _, name := range tc.unset {
				if _, ok := h[name]; ok {
					t.Errorf("header %s is set", name)
				}
			}
			v := newVerifier(t, webhook.VerifierConfig{Scheme: tc.scheme, Secrets: []string{tc.secret}})
			if err := v.Verify(h, []byte(tc.body)); err != nil {
				t.Fatalf("Verify(signed) = %v", err)
			}
			if err := v.Verify(h, []byte(tc.body+"!")); !matches(err, webhook.ErrNoMatchingSignature) {
				t.Fatalf("Verify(other body) = %v, want %v", err, webhook.ErrNoMatchingSignature)
			}
		})
	}
}

// TestSignerRetry re-signs the same delivery later, as the worker does on every retry:
// the headers are replaced, not added to, and the fresh signature passes where the old
// one has gone stale.
func TestSignerRetry(t *testing.T) {
	for _, scheme := range []webhook.Scheme{webhook.SchemeCoven, webhook.SchemeStandard} {
		t.Run(string(scheme), func(t *testing.T) {
			secret := map[webhook.Scheme]string{webhook.SchemeCoven: covenSecretA, webhook.SchemeStandard: standardSecretA}[scheme]
			signer, err := webhook.NewSigner(scheme, secret)
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			body := []byte("retry")
			first := testNow.Add(-10 * time.Minute)
			h := http.Header{}
			if err := signer.Sign(h, body, first, "msg_retry"); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			v := newVerifier(t, webhook.VerifierConfig{Scheme: scheme, Secrets: []string{secret}})
			if err := v.Verify(h, body); !matches(err, webhook.ErrTimestampTooOld) {
				t.Fatalf("Verify(first attempt) = %v, want %v", err, webhook.ErrTimestampTooOld)
			}
			if err := signer.Sign(h, body, testNow, "msg_retry"); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			for name, values := range h {
				if len(values) != 1 {
					t.Errorf("after re-signing, header %s has %d values", name, len(values))
				}
			}
			if err := v.Verify(h, body); err != nil {
				t.Fatalf("Verify(retry) = %v", err)
			}
		})
	}
}

func TestSignerRejects(t *testing.T) {
	cases := []struct {
		name    string
		scheme  webhook.Scheme
		secret  string
		now     time.Time
		msgID   string
		wantErr string
	}{
		{name: "standard without id", scheme: webhook.SchemeStandard, secret: standardSecretA, now: testNow, msgID: "", wantErr: "message id"},
		{name: "standard id with dot", scheme: webhook.SchemeStandard, secret: standardSecretA, now: testNow, msgID: "msg.1", wantErr: "message id"},
		{name: "standard id with space", scheme: webhook.SchemeStandard, secret: standardSecretA, now: testNow, msgID: "msg 1", wantErr: "message id"},
		{name: "standard id with newline", scheme: webhook.SchemeStandard, secret: standardSecretA, now: testNow, msgID: "msg\r\n1", wantErr: "message id"},
		{name: "coven before 1970", scheme: webhook.SchemeCoven, secret: covenSecretA, now: time.Unix(-1, 0), wantErr: "unix epoch"},
		{name: "standard before 1970", scheme: webhook.SchemeStandard, secret: standardSecretA, now: time.Unix(-1, 0), msgID: "msg_1", wantErr: "unix epoch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := webhook.NewSigner(tc.scheme, tc.secret)
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			h := http.Header{"X-Other": {"kept"}}
			err = signer.Sign(h, []byte("body"), tc.now, tc.msgID)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Sign() = %v, want an error containing %q", err, tc.wantErr)
			}
			if len(h) != 1 || h.Get("X-Other") != "kept" {
				t.Fatalf("failed Sign changed the header: %v", h)
			}
		})
	}
	if _, err := webhook.NewSigner("", covenSecretA); err == nil {
		t.Errorf("NewSigner without a scheme succeeded")
	}
}

// TestFormattingHidesSecrets prints verifiers and signers every way fmt can: none of
// the outputs may contain a secret or its key bytes.
func TestFormattingHidesSecrets(t *testing.T) {
	coven := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA, covenSecretB}})
	standard := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretB}})
	covenSigner, err := webhook.NewSigner(webhook.SchemeCoven, covenSecretA)
	if err != nil {
		t.Fatal(err)
	}
	standardSigner, err := webhook.NewSigner(webhook.SchemeStandard, standardSecretB)
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []any{coven, standard, covenSigner, standardSigner, *coven, *covenSigner} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, value)
			assertNoSecrets(t, out, covenSecretA, covenSecretB, standardSecretB, string(standardKeyB), fmt.Sprint([]byte(covenSecretA)), fmt.Sprint(standardKeyB))
		}
	}
	if got := coven.String(); !strings.Contains(got, "coven") || !strings.Contains(got, "secrets: 2") {
		t.Errorf("String() = %q, want the scheme and secret count", got)
	}
}
