package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
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

// A remembered token keeps its claims as JSON until a claim is read by name: the stream reads only
// the registered fields. Readers that come at once all get the same decoded claims.
func TestRememberedClaimsAreDecodedOnFirstRead(t *testing.T) {
	idp := newTestIdP(t)
	v := newTestVerifier(t, idp.config())
	tok := mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(map[string]any{"discord_id": json.Number("1100000000000000042"), "roles": []string{"a", "b"}}))
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.all != nil || len(c.payload) == 0 || c.Subject != "user-1" {
		t.Fatalf("verified claims hold a decoded map %v, JSON of %d bytes, subject %q; want JSON only", c.all, len(c.payload), c.Subject)
	}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			id, _ := c.String("discord_id")
			roles, _ := c.Get("roles")
			got[i] = fmt.Sprintf("%s %v", id, roles)
		})
	}
	wg.Wait()
	for i, g := range got {
		if g != "1100000000000000042 [a b]" {
			t.Fatalf("reader %d got %q", i, g)
		}
	}
	names := 0
	for range c.All() {
		names++
	}
	if names != 7 { // iss sub aud iat exp discord_id roles
		t.Fatalf("All gave %d claims, want 7", names)
	}
}
