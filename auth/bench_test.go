package auth

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/spellcoven/gateway/auth/authtest"
)

// BenchmarkVerify measures Verify of a valid token with the keys already loaded: the per-request cost
// behind coven_jwt and the WebSocket auth message. The signature_only baseline checks just the
// signature with the same key, so the ratio between the two is the cost of everything else (header
// and claims decoding, key lookup, claim checks); verify_cached is a token presented again.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{authtest.RS256, authtest.ES256, authtest.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			iss, srv := startBenchIssuer(b, alg)
			v, err := New(Config{JWKSURL: srv.JWKSURL(), Issuer: testIssuer, Audiences: []string{testAudience}})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Stop()
			token := mint(b, iss, iss.SigningKeyID(), validClaims(map[string]any{"name": "Alice", "discord_id": "80351110224678912"}))
			ctx := context.Background()
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
			b.Run("verify", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					v.cache.clear()
					if _, err := v.Verify(ctx, token); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("verify_cached", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, token); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("signature_only", func(b *testing.B) {
				key := v.keys.Load().all[0]
				sigAlg := supportedAlgorithms[alg].jws
				raw := []byte(token)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := jws.VerifyCompactFast(key.key, raw, sigAlg); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkRememberedTokenMemory reports the heap a verified token takes in the cache (the cache's
// entry and the token's claims as the stream reads them: no claim read by name).
func BenchmarkRememberedTokenMemory(b *testing.B) {
	const tokens = 2000
	iss, srv := startBenchIssuer(b, authtest.ES256)
	minted := make([]string, tokens)
	for i := range minted {
		minted[i] = mint(b, iss, iss.SigningKeyID(), validClaims(map[string]any{"sub": fmt.Sprintf("user-%d", i), "name": "Alice", "discord_id": "80351110224678912"}))
	}
	ctx := context.Background()
	for b.Loop() {
		v, err := New(Config{JWKSURL: srv.JWKSURL(), Issuer: testIssuer, Audiences: []string{testAudience}, CacheSize: tokens})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(ctx, minted[0]); err != nil { // the keys loaded
			b.Fatal(err)
		}
		v.cache.clear()
		before := heapAlloc()
		for _, tok := range minted {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/tokens, "B/token")
		runtime.KeepAlive(v)
		v.Stop()
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// startBenchIssuer starts an identity provider signing with alg, stopped when the benchmark ends.
func startBenchIssuer(b *testing.B, alg string) (*authtest.Issuer, *authtest.Server) {
	b.Helper()
	iss, err := authtest.NewIssuer(testIssuer, authtest.WithAlgorithm(alg))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := iss.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return iss, srv
}
