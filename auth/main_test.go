package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testIssuer   = "https://idp.test/"
	testAudience = "spell-coven"
)

// testIdP is an authtest.Issuer behind a real HTTP server on 127.0.0.1 that can be switched down, for
// exercising fetch, retry and rotation behaviour.
type testIdP struct {
	*authtest.Issuer
	jwksURL  string
	down     atomic.Bool  // answer 503 instead of the JWKS
	attempts atomic.Int64 // every JWKS request, answered or not
}

func newTestIdP(t testing.TB, opts ...authtest.Option) *testIdP {
	t.Helper()
	iss, err := authtest.NewIssuer(testIssuer, opts...)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	idp := &testIdP{Issuer: iss}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.attempts.Add(1)
		if idp.down.Load() {
			http.Error(w, "identity provider is down", http.StatusServiceUnavailable)
			return
		}
		iss.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	idp.jwksURL = srv.URL + authtest.JWKSPath
	return idp
}

// config returns a Config for the IdP with the test issuer and audience.
func (idp *testIdP) config() Config {
	return Config{JWKSURL: idp.jwksURL, Issuer: testIssuer, Audiences: []string{testAudience}}
}

// newTestVerifier creates a Verifier that is stopped when the test ends.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Stop)
	return v
}

// validClaims returns claims every Verifier built from idp.config accepts, changed by overrides
// (a nil override removes the claim).
func validClaims(overrides map[string]any) map[string]any {
	now := time.Now()
	claims := map[string]any{
		"iss": testIssuer,
		"sub": "user-1",
		"aud": testAudience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	for name, v := range overrides {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	return claims
}

// mint signs claims with the published key kid, failing the test on error.
func mint(t testing.TB, iss *authtest.Issuer, kid string, claims map[string]any) string {
	t.Helper()
	token, err := iss.MintWithKey(kid, claims)
	if err != nil {
		t.Fatalf("MintWithKey: %v", err)
	}
	return token
}

// unsignedToken builds a compact JWS from a header and claims with the given signature bytes, for
// tokens no honest issuer would sign.
func unsignedToken(t testing.TB, header, claims map[string]any, signature []byte) string {
	t.Helper()
	return segment(t, header) + "." + segment(t, claims) + "." + base64.RawURLEncoding.EncodeToString(signature)
}

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding segment: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// verifyWithin runs Verify with a deadline so that a broken timeout fails the test instead of hanging it.
func verifyWithin(t *testing.T, v *Verifier, ctx context.Context, token string) (*Claims, error) {
	t.Helper()
	type result struct {
		claims *Claims
		err    error
	}
	done := make(chan result, 1)
	go func() {
		c, err := v.Verify(ctx, token)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.claims, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Verify did not return within 10s")
		return nil, nil
	}
}

// eventually polls cond every few milliseconds until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// assertNoTokenInError checks that a rejection does not leak the token or its parts.
func assertNoTokenInError(t *testing.T, err error, token string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, part := range append([]string{token}, strings.Split(token, ".")...) {
		if len(part) >= 16 && strings.Contains(msg, part) {
			t.Errorf("error message %q contains the token or a segment of it", msg)
		}
	}
}
