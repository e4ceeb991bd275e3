package webhook_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

func TestParseScheme(t *testing.T) {
	cases := []struct {
		in      string
		want    webhook.Scheme
		wantErr bool
	}{
		{in: "coven", want: webhook.SchemeCoven},
		{in: "standard", want: webhook.SchemeStandard},
		{in: "", wantErr: true},
		{in: "Standard", wantErr: true},
		{in: " coven", wantErr: true},
		{in: "github", wantErr: true},
		{in: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := webhook.ParseScheme(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseScheme(%q) = %q, %v; want %q, error %t", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err != nil && tc.in != "" {
				// A secret passed where the scheme belongs must not reach the logs.
				assertNoSecrets(t, err.Error(), tc.in)
			}
		})
	}
}

func TestSchemeDefaultTolerance(t *testing.T) {
	cases := []struct {
		scheme webhook.Scheme
		want   time.Duration
	}{
		{webhook.SchemeCoven, 60 * time.Second},
		{webhook.SchemeStandard, 5 * time.Minute},
		{"other", 0},
	}
	for _, tc := range cases {
		if got := tc.scheme.DefaultTolerance(); got != tc.want {
			t.Errorf("%q.DefaultTolerance() = %s, want %s", tc.scheme, got, tc.want)
		}
	}
}

func TestNewVerifierConfig(t *testing.T) {
	cases := []struct {
		name          string
		cfg           webhook.VerifierConfig
		wantErr       string // substring of the error; empty means success
		wantTolerance time.Duration
	}{
		{name: "coven defaults", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}}, wantTolerance: webhook.DefaultCovenTolerance},
		{name: "standard defaults", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretA}}, wantTolerance: webhook.DefaultStandardTolerance},
		{name: "explicit tolerance", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}, Tolerance: 90 * time.Second}, wantTolerance: 90 * time.Second},
		{name: "one second tolerance", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}, Tolerance: time.Second}, wantTolerance: time.Second},

		{name: "no scheme", cfg: webhook.VerifierConfig{Secrets: []string{covenSecretA}}, wantErr: "scheme is required"},
		{name: "unknown scheme", cfg: webhook.VerifierConfig{Scheme: "hmac", Secrets: []string{covenSecretA}}, wantErr: "unknown scheme"},
		{name: "no secrets", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven}, wantErr: "at least one secret"},
		{name: "empty secret", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA, ""}}, wantErr: "secret 2 of 2: secret is empty"},
		{name: "sub-second tolerance", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}, Tolerance: 500 * time.Millisecond}, wantErr: "below one second"},
		{name: "negative tolerance", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}, Tolerance: -time.Second}, wantErr: "below one second"},
		{name: "negative max signatures", cfg: webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretA}, MaxSignatures: -1}, wantErr: "max signatures"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := webhook.NewVerifier(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewVerifier() error = %v, want one containing %q", err, tc.wantErr)
				}
				if v != nil {
					t.Fatalf("NewVerifier() returned a verifier with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewVerifier() = %v", err)
			}
			if v.Scheme() != tc.cfg.Scheme || v.Tolerance() != tc.wantTolerance {
				t.Fatalf("scheme, tolerance = %s, %s; want %s, %s", v.Scheme(), v.Tolerance(), tc.cfg.Scheme, tc.wantTolerance)
			}
		})
	}
}

// TestSecretRules applies the same secret to NewVerifier and NewSigner: both follow one
// set of rules, and neither quotes the secret in its error.
func TestSecretRules(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	keyOf := func(n int) string { return b64([]byte(strings.Repeat("k", n))) }
	cases := []struct {
		name    string
		scheme  webhook.Scheme
		secret  string
		wantErr string
	}{
		{name: "coven 16 bytes", scheme: webhook.SchemeCoven, secret: "0123456789abcdef"},
		{name: "coven 15 bytes", scheme: webhook.SchemeCoven, secret: "0123456789abcde", wantErr: "shorter than 16 bytes"},
		{name: "coven inner space is kept", scheme: webhook.SchemeCoven, secret: "correct horse battery staple"},
		{name: "coven trailing newline", scheme: webhook.SchemeCoven, secret: covenSecretA + "\n", wantErr: "white space"},
		{name: "coven leading space", scheme: webhook.SchemeCoven, secret: " " + covenSecretA, wantErr: "white space"},
		{name: "coven empty", scheme: webhook.SchemeCoven, secret: "", wantErr: "empty"},

		{name: "standard whsec 24-byte key", scheme: webhook.SchemeStandard, secret: "whsec_" + keyOf(24)},
		{name: "standard bare 24-byte key", scheme: webhook.SchemeStandard, secret: keyOf(24)},
		{name: "standard 64-byte key", scheme: webhook.SchemeStandard, secret: "whsec_" + keyOf(64)},
		{name: "standard 23-byte key", scheme: webhook.SchemeStandard, secret: "whsec_" + keyOf(23), wantErr: "between 24 and 64"},
		{name: "standard 65-byte key", scheme: webhook.SchemeStandard, secret: "whsec_" + keyOf(65), wantErr: "between 24 and 64"},
		{name: "standard prefix only", scheme: webhook.SchemeStandard, secret: "whsec_", wantErr: "between 24 and 64"},
		{name: "standard not base64", scheme: webhook.SchemeStandard, secret: "whsec_this is not base64!!!!!!!!!!!", wantErr: "not padded standard base64"},
		{name: "standard unpadded", scheme: webhook.SchemeStandard, secret: "whsec_" + strings.TrimRight(keyOf(25), "="), wantErr: "not padded standard base64"},
		{name: "standard URL alphabet", scheme: webhook.SchemeStandard, secret: "whsec_" + strings.Repeat("-_", 16), wantErr: "not padded standard base64"},
		{name: "standard inner newline", scheme: webhook.SchemeStandard, secret: "whsec_" + keyOf(24)[:16] + "\n" + keyOf(24)[16:], wantErr: "not padded standard base64"},
		{name: "standard upper-case prefix", scheme: webhook.SchemeStandard, secret: "WHSEC_" + keyOf(24), wantErr: "not padded standard base64"},
		{name: "standard trailing newline", scheme: webhook.SchemeStandard, secret: "whsec_" + keyOf(24) + "\n", wantErr: "white space"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, verr := webhook.NewVerifier(webhook.VerifierConfig{Scheme: tc.scheme, Secrets: []string{tc.secret}})
			_, serr := webhook.NewSigner(tc.scheme, tc.secret)
			for what, err := range map[string]error{"NewVerifier": verr, "NewSigner": serr} {
				if tc.wantErr == "" {
					if err != nil {
						t.Errorf("%s() = %v", what, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s() error = %v, want one containing %q", what, err, tc.wantErr)
					continue
				}
				assertNoSecrets(t, err.Error(), strings.TrimSpace(strings.TrimPrefix(tc.secret, "whsec_")))
			}
		})
	}
}
