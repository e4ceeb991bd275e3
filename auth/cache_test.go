package auth

import (
	"context"
	"testing"
	"time"
)

// A token verified once is remembered; its time claims are still checked on every use, tokens that
// fail are not remembered, and the cache holds at most CacheSize tokens.
func TestVerifiedTokensAreRemembered(t *testing.T) {
	idp := newTestIdP(t)
	cfg := idp.config()
	cfg.Leeway = time.Nanosecond
	cfg.CacheSize = 3
	v := newTestVerifier(t, cfg)
	ctx := context.Background()
	kid := idp.SigningKeyID()

	soon := mint(t, idp.Issuer, kid, validClaims(map[string]any{"exp": time.Now().Add(time.Second).Unix()}))
	first, err := v.Verify(ctx, soon)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	again, err := v.Verify(ctx, soon)
	if err != nil || again != first {
		t.Fatalf("Verify again = %p, %v; want the remembered claims %p", again, err, first)
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	eventually(t, "the remembered token to expire", func() bool {
		_, err := v.Verify(ctx, soon)
		return Reason(err) == ReasonExpired
	})

	tampered := soon[:len(soon)-4] + "AAAA"
	if _, err := v.Verify(ctx, tampered); Reason(err) != ReasonBadSignature {
		t.Fatalf("tampered token: %v, want %s", err, ReasonBadSignature)
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens after a refused one, want 1", n)
	}

	for i := range 5 {
		tok := mint(t, idp.Issuer, kid, validClaims(map[string]any{"sub": "user-" + string(rune('a'+i))}))
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
		if n := v.cache.len(); n > cfg.CacheSize {
			t.Fatalf("cache holds %d tokens, more than its size %d", n, cfg.CacheSize)
		}
	}
	if _, err := New(Config{JWKSURL: idp.jwksURL, Issuer: testIssuer, Audiences: []string{testAudience}, CacheSize: -1}); err == nil {
		t.Fatal("a negative cache_size was accepted")
	}
}
