package auth

import (
	"context"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary tokens, grown from valid ones. Verify runs on the WebSocket path
// outside net/http's panic recovery, so a panic would end the edge: none may happen, and whatever
// it accepts must be a token the issuer signed, with the claims the verifier requires.
func FuzzVerify(f *testing.F) {
	idp := newTestIdP(f)
	v := newTestVerifier(f, idp.config())
	kid := idp.SigningKeyID()
	valid := mint(f, idp.Issuer, kid, validClaims(nil))
	f.Add(valid)
	f.Add(mint(f, idp.Issuer, kid, validClaims(map[string]any{"aud": []any{"x", testAudience}, "nbf": time.Now().Unix()})))
	f.Add(mint(f, idp.Issuer, kid, validClaims(map[string]any{"exp": 1e300})))
	f.Add(mint(f, idp.Issuer, kid, validClaims(map[string]any{"sub": map[string]any{"a": 1}})))
	parts := strings.Split(valid, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add("..")
	f.Add("")
	f.Add(strings.Repeat("a.", 1000))
	if _, err := v.Verify(context.Background(), valid); err != nil {
		f.Fatalf("the valid seed is refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		claims, err := v.Verify(ctx, token)
		if err != nil {
			if Reason(err) == "" {
				t.Fatalf("an error without a reason: %v", err)
			}
			return
		}
		if claims.Subject == "" || claims.Issuer != testIssuer || claims.Expiry.IsZero() {
			t.Fatalf("accepted claims %+v", claims)
		}
		// An accepted token is a compact JWS of three segments.
		if seg := strings.SplitN(token, ".", 3); len(seg) != 3 {
			t.Fatalf("accepted %q, not three segments", token)
		}
	})
}
