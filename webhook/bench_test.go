package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"testing"

	"github.com/spellcoven/gateway/webhook"
)

var benchSizes = []int{1 << 10, 64 << 10}

// BenchmarkVerify measures one successful verification per scheme and body size, with
// one and with two configured secrets (rotation hashes the body once per secret).
func BenchmarkVerify(b *testing.B) {
	for _, scheme := range []webhook.Scheme{webhook.SchemeCoven, webhook.SchemeStandard} {
		for _, secrets := range []int{1, 2} {
			for _, size := range benchSizes {
				name := fmt.Sprintf("%s/secrets=%d/%dKiB", scheme, secrets, size>>10)
				b.Run(name, func(b *testing.B) {
					body := make([]byte, size)
					var h http.Header
					var configured []string
					switch scheme {
					case webhook.SchemeCoven:
						configured = []string{covenSecretB, covenSecretA}[:secrets]
						h = covenSigned(covenSecretB, testNow.Unix(), string(body))
					case webhook.SchemeStandard:
						configured = []string{standardSecretB, standardSecretA}[:secrets]
						h = standardSigned(standardKeyB, "msg_bench", testNow.Unix(), string(body))
					}
					v := newVerifier(b, webhook.VerifierConfig{Scheme: scheme, Secrets: configured})
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						if err := v.Verify(h, body); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkVerifyRejected measures the cheap rejections, which do no HMAC work.
func BenchmarkVerifyRejected(b *testing.B) {
	body := make([]byte, 1<<10)
	v := newVerifier(b, webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}})
	cases := []struct {
		name   string
		header http.Header
	}{
		{"missing", http.Header{}},
		{"stale", covenSigned(covenSecretA, testNow.Unix()-3600, string(body))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v.Verify(tc.header, body) == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkHMACBaseline is the floor Verify is measured against: keying a fresh
// HMAC-SHA256 and hashing the body, with nothing parsed or compared.
func BenchmarkHMACBaseline(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			body := make([]byte, size)
			var sum [sha256.Size]byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				mac := hmac.New(sha256.New, []byte(covenSecretA))
				mac.Write(body)
				mac.Sum(sum[:0])
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, scheme := range []webhook.Scheme{webhook.SchemeCoven, webhook.SchemeStandard} {
		b.Run(fmt.Sprintf("%s/1KiB", scheme), func(b *testing.B) {
			secret := map[webhook.Scheme]string{webhook.SchemeCoven: covenSecretA, webhook.SchemeStandard: standardSecretA}[scheme]
			signer, err := webhook.NewSigner(scheme, secret)
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 1<<10)
			h := http.Header{}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := signer.Sign(h, body, testNow, "msg_bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
