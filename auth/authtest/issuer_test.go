package authtest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// fetchJWKS fetches a server's JWKS over HTTP, as a verifier would.
func fetchJWKS(t *testing.T, s *Server) jwk.Set {
	t.Helper()
	resp, err := http.Get(s.JWKSURL())
	if err != nil {
		t.Fatalf("GET JWKS: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET JWKS: status %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading JWKS: %v", err)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		t.Fatalf("parsing JWKS: %v", err)
	}
	return set
}

// headerKID returns the kid of a compact JWS.
func headerKID(t *testing.T, token string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatalf("parsing token: %v", err)
	}
	kid, _ := msg.Signatures()[0].ProtectedHeaders().KeyID()
	return kid
}

func TestNewIssuer(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		opts    []Option
		wantErr string
	}{
		{name: "default RS256", url: "https://idp.test/"},
		{name: "ES256", url: "https://idp.test/", opts: []Option{WithAlgorithm(ES256)}},
		{name: "EdDSA", url: "https://idp.test/", opts: []Option{WithAlgorithm(EdDSA)}},
		{name: "unsupported algorithm", url: "https://idp.test/", opts: []Option{WithAlgorithm("HS256")}, wantErr: "unsupported algorithm"},
		{name: "empty issuer URL", url: "", wantErr: "issuer URL is required"},
		{name: "negative max-age", url: "https://idp.test/", opts: []Option{WithJWKSMaxAge(-time.Second)}, wantErr: "max-age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := NewIssuer(tt.url, tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewIssuer error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewIssuer: %v", err)
			}
			if got := iss.KeyIDs(); len(got) != 1 || got[0] != iss.SigningKeyID() {
				t.Fatalf("KeyIDs = %v, want just the signing key %q", got, iss.SigningKeyID())
			}
		})
	}
}

func TestMintedTokensVerifyAgainstServedJWKS(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			s := NewTestServer(t, WithAlgorithm(alg))
			token, err := s.Issuer.MintFor("user-1", "spell-coven", time.Hour, map[string]any{"discord_id": "80351110224678912"})
			if err != nil {
				t.Fatalf("MintFor: %v", err)
			}
			set := fetchJWKS(t, s)
			tok, err := jwt.ParseString(token, jwt.WithKeySet(set), jwt.WithIssuer(s.URL), jwt.WithAudience("spell-coven"))
			if err != nil {
				t.Fatalf("jwx rejects the token: %v", err)
			}
			if sub, _ := tok.Subject(); sub != "user-1" {
				t.Errorf("sub = %q, want user-1", sub)
			}
			var discordID string
			if err := tok.Get("discord_id", &discordID); err != nil || discordID != "80351110224678912" {
				t.Errorf("discord_id = %q (%v), want 80351110224678912", discordID, err)
			}
			if got := headerKID(t, token); got != s.Issuer.SigningKeyID() {
				t.Errorf("header kid = %q, want signing key %q", got, s.Issuer.SigningKeyID())
			}
			if got := s.Issuer.JWKSRequests(); got != 1 {
				t.Errorf("JWKSRequests = %d, want 1", got)
			}
		})
	}
}

func TestJWKSPublishesOnlyPublicSigningKeys(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			iss, err := NewIssuer("https://idp.test/", WithAlgorithm(alg))
			if err != nil {
				t.Fatalf("NewIssuer: %v", err)
			}
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(iss.JWKS(), &doc); err != nil {
				t.Fatalf("JWKS is not JSON: %v", err)
			}
			if len(doc.Keys) != 1 {
				t.Fatalf("JWKS holds %d keys, want 1", len(doc.Keys))
			}
			key := doc.Keys[0]
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := key[private]; ok {
					t.Errorf("JWKS key carries private member %q", private)
				}
			}
			for member, want := range map[string]any{"kid": iss.SigningKeyID(), "alg": alg, "use": "sig"} {
				if key[member] != want {
					t.Errorf("JWKS key %s = %v, want %v", member, key[member], want)
				}
			}
		})
	}
}

func TestRotateAndRetire(t *testing.T) {
	s := NewTestServer(t, WithAlgorithm(ES256))
	iss := s.Issuer
	oldKID := iss.SigningKeyID()
	oldToken, err := iss.MintFor("user-1", "aud", time.Hour, nil)
	if err != nil {
		t.Fatalf("MintFor: %v", err)
	}

	newKID, err := iss.Rotate()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if newKID == oldKID || iss.SigningKeyID() != newKID {
		t.Fatalf("after Rotate signing kid = %q (returned %q), old %q", iss.SigningKeyID(), newKID, oldKID)
	}
	if got := iss.KeyIDs(); !slices.Equal(got, []string{oldKID, newKID}) {
		t.Fatalf("KeyIDs after Rotate = %v, want [%s %s]", got, oldKID, newKID)
	}
	newToken, err := iss.MintFor("user-1", "aud", time.Hour, nil)
	if err != nil {
		t.Fatalf("MintFor: %v", err)
	}
	if got := headerKID(t, newToken); got != newKID {
		t.Fatalf("token after Rotate has kid %q, want %q", got, newKID)
	}
	set := fetchJWKS(t, s)
	for name, token := range map[string]string{"old key": oldToken, "new key": newToken} {
		if _, err := jwt.ParseString(token, jwt.WithKeySet(set)); err != nil {
			t.Errorf("token signed with the %s does not verify while both are published: %v", name, err)
		}
	}

	if err := iss.Retire(newKID); err == nil {
		t.Error("Retire of the signing key succeeded, want an error")
	}
	if err := iss.Retire("no-such-kid"); err == nil {
		t.Error("Retire of an unknown kid succeeded, want an error")
	}
	if err := iss.Retire(oldKID); err != nil {
		t.Fatalf("Retire(old): %v", err)
	}
	if got := iss.KeyIDs(); !slices.Equal(got, []string{newKID}) {
		t.Fatalf("KeyIDs after Retire = %v, want [%s]", got, newKID)
	}
	if _, err := iss.MintWithKey(oldKID, map[string]any{"sub": "x"}); err == nil {
		t.Error("MintWithKey with a retired kid succeeded, want an error")
	}
	if _, err := jwt.ParseString(oldToken, jwt.WithKeySet(fetchJWKS(t, s))); err == nil {
		t.Error("token signed with the retired key still verifies against the served JWKS")
	}
}

func TestAddKeyMixesAlgorithms(t *testing.T) {
	iss, err := NewIssuer("https://idp.test/")
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	rsaKID := iss.SigningKeyID()
	ecKID, err := iss.AddKey(ES256)
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	set, err := jwk.Parse(iss.JWKS())
	if err != nil {
		t.Fatalf("parsing JWKS: %v", err)
	}
	for kid, wantAlg := range map[string]string{rsaKID: RS256, ecKID: ES256} {
		token, err := iss.MintWithKey(kid, map[string]any{"sub": "user-1"})
		if err != nil {
			t.Fatalf("MintWithKey(%s): %v", wantAlg, err)
		}
		msg, err := jws.Parse([]byte(token))
		if err != nil {
			t.Fatalf("parsing token: %v", err)
		}
		if alg, _ := msg.Signatures()[0].ProtectedHeaders().Algorithm(); alg.String() != wantAlg {
			t.Errorf("token from key %s has alg %s, want %s", kid, alg, wantAlg)
		}
		if _, err := jwt.ParseString(token, jwt.WithKeySet(set)); err != nil {
			t.Errorf("%s token does not verify: %v", wantAlg, err)
		}
	}
}

func TestMintForClaims(t *testing.T) {
	iss, err := NewIssuer("https://idp.test/", WithAlgorithm(EdDSA))
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	set, err := jwk.Parse(iss.JWKS())
	if err != nil {
		t.Fatalf("parsing JWKS: %v", err)
	}
	nbf := time.Now().Add(-time.Minute).Truncate(time.Second)
	tests := []struct {
		name  string
		ttl   time.Duration
		extra map[string]any
		check func(t *testing.T, claims map[string]any)
	}{
		{
			name: "standard claims",
			ttl:  time.Hour,
			check: func(t *testing.T, c map[string]any) {
				if c["iss"] != "https://idp.test/" || c["sub"] != "user-1" || c["aud"] != "aud-1" {
					t.Errorf("iss/sub/aud = %v/%v/%v", c["iss"], c["sub"], c["aud"])
				}
				exp, iat := c["exp"].(float64), c["iat"].(float64)
				if exp-iat != 3600 {
					t.Errorf("exp - iat = %v, want 3600", exp-iat)
				}
				if jti, _ := c["jti"].(string); len(jti) != 32 {
					t.Errorf("jti = %q, want 32 hex digits", jti)
				}
			},
		},
		{
			name:  "nil removes a claim",
			ttl:   time.Hour,
			extra: map[string]any{"exp": nil, "sub": nil},
			check: func(t *testing.T, c map[string]any) {
				for _, name := range []string{"exp", "sub"} {
					if _, ok := c[name]; ok {
						t.Errorf("claim %s present, want removed", name)
					}
				}
			},
		},
		{
			name:  "extra overrides and time values become NumericDate",
			ttl:   -time.Hour,
			extra: map[string]any{"aud": []string{"a", "b"}, "nbf": nbf, "role": "admin"},
			check: func(t *testing.T, c map[string]any) {
				if got, _ := c["nbf"].(float64); int64(got) != nbf.Unix() {
					t.Errorf("nbf = %v, want %d", c["nbf"], nbf.Unix())
				}
				if aud, _ := c["aud"].([]any); len(aud) != 2 {
					t.Errorf("aud = %v, want [a b]", c["aud"])
				}
				if c["role"] != "admin" {
					t.Errorf("role = %v, want admin", c["role"])
				}
				if exp, iat := c["exp"].(float64), c["iat"].(float64); exp >= iat {
					t.Errorf("negative ttl: exp %v not before iat %v", exp, iat)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := iss.MintFor("user-1", "aud-1", tt.ttl, tt.extra)
			if err != nil {
				t.Fatalf("MintFor: %v", err)
			}
			payload, err := jws.Verify([]byte(token), jws.WithKeySet(set))
			if err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatalf("claims are not JSON: %v", err)
			}
			tt.check(t, claims)
		})
	}
}

func TestServeHTTP(t *testing.T) {
	s := NewTestServer(t, WithJWKSMaxAge(5*time.Minute))
	tests := []struct {
		name             string
		method, path     string
		wantStatus       int
		wantCacheControl string
		wantCounted      bool
	}{
		{name: "GET JWKS", method: http.MethodGet, path: JWKSPath, wantStatus: http.StatusOK, wantCacheControl: "public, max-age=300", wantCounted: true},
		{name: "HEAD JWKS", method: http.MethodHead, path: JWKSPath, wantStatus: http.StatusOK, wantCacheControl: "public, max-age=300", wantCounted: true},
		{name: "POST JWKS", method: http.MethodPost, path: JWKSPath, wantStatus: http.StatusMethodNotAllowed},
		{name: "other path", method: http.MethodGet, path: "/token", wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Issuer.JWKSRequests()
			req, err := http.NewRequest(tt.method, s.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCacheControl {
				t.Errorf("Cache-Control = %q, want %q", got, tt.wantCacheControl)
			}
			counted := s.Issuer.JWKSRequests() - before
			if counted != map[bool]int64{true: 1, false: 0}[tt.wantCounted] {
				t.Errorf("JWKSRequests grew by %d", counted)
			}
		})
	}
}

func TestServerClose(t *testing.T) {
	iss, err := NewIssuer("https://idp.test/")
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	s, err := iss.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	resp, err := http.Get(s.JWKSURL())
	if err != nil {
		t.Fatalf("GET before Close: %v", err)
	}
	_ = resp.Body.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if resp, err := http.Get(s.JWKSURL()); err == nil {
		_ = resp.Body.Close()
		t.Fatal("GET after Close succeeded, want a connection error")
	}
	http.DefaultClient.CloseIdleConnections()
}
