package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spellcoven/gateway/auth/authtest"
)

// rsaPublicKeyPEM returns the PEM encoding of the published RSA key kid, the "secret" of the classic
// HS256 key-confusion attack.
func rsaPublicKeyPEM(t *testing.T, iss *authtest.Issuer, kid string) []byte {
	t.Helper()
	set, err := jwk.Parse(iss.JWKS())
	if err != nil {
		t.Fatalf("parsing JWKS: %v", err)
	}
	key, ok := set.LookupKeyID(kid)
	if !ok {
		t.Fatalf("kid %q not in JWKS", kid)
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		t.Fatalf("exporting key: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		t.Fatalf("encoding key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func hs256(t *testing.T, secret []byte, header, claims map[string]any) string {
	t.Helper()
	signingInput := segment(t, header) + "." + segment(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signingInput))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	idp := newTestIdP(t)
	rsaKID := idp.SigningKeyID()
	ecKID, err := idp.AddKey(authtest.ES256)
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	stranger, err := authtest.NewIssuer(testIssuer)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}

	v := newTestVerifier(t, idp.config())
	rsaOnlyCfg := idp.config()
	rsaOnlyCfg.Algorithms = []string{"RS256"}
	rsaOnly := newTestVerifier(t, rsaOnlyCfg)
	twoAudCfg := idp.config()
	twoAudCfg.Audiences = []string{"other-app", testAudience}
	twoAud := newTestVerifier(t, twoAudCfg)
	smallCfg := idp.config()
	smallCfg.MaxTokenBytes = 64
	small := newTestVerifier(t, smallCfg)

	now := time.Now()
	tests := []struct {
		name     string
		verifier *Verifier // default v
		token    func(t *testing.T) string
		want     string // reason; "" means accepted
	}{
		{
			name:  "valid RS256",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(nil)) },
		},
		{
			name:  "valid ES256",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, ecKID, validClaims(nil)) },
		},
		{
			name: "aud array containing the configured audience",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"aud": []string{"x", testAudience}}))
			},
		},
		{
			name:     "any one of several configured audiences",
			verifier: twoAud,
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"aud": "other-app"}))
			},
		},
		{
			name: "expired",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}))
			},
			want: ReasonExpired,
		},
		{
			name: "expired within leeway",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}))
			},
		},
		{
			name: "not yet valid",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()}))
			},
			want: ReasonNotYetValid,
		},
		{
			name: "nbf within leeway",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"nbf": now.Add(10 * time.Second).Unix()}))
			},
		},
		{
			name: "issued in the future",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"iat": now.Add(2 * time.Minute).Unix()}))
			},
			want: ReasonNotYetValid,
		},
		{
			name: "wrong audience",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"aud": "another-app"}))
			},
			want: ReasonBadAudience,
		},
		{
			name:  "missing audience",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"aud": nil})) },
			want:  ReasonMissingClaim,
		},
		{
			name: "wrong issuer",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"iss": "https://evil.test/"}))
			},
			want: ReasonBadIssuer,
		},
		{
			name:  "missing issuer",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"iss": nil})) },
			want:  ReasonMissingClaim,
		},
		{
			name:  "missing exp",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"exp": nil})) },
			want:  ReasonMissingClaim,
		},
		{
			name:  "missing sub",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"sub": nil})) },
			want:  ReasonMissingClaim,
		},
		{
			name:  "empty sub",
			token: func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"sub": ""})) },
			want:  ReasonMissingClaim,
		},
		{
			name: "exp is not a number",
			token: func(t *testing.T) string {
				return mint(t, idp.Issuer, rsaKID, validClaims(map[string]any{"exp": "tomorrow"}))
			},
			want: ReasonMalformed,
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				return unsignedToken(t, map[string]any{"alg": "none", "kid": rsaKID}, validClaims(nil), nil)
			},
			want: ReasonAlgNotAllowed,
		},
		{
			name: "HS256 signed with the RSA public key",
			token: func(t *testing.T) string {
				secret := rsaPublicKeyPEM(t, idp.Issuer, rsaKID)
				return hs256(t, secret, map[string]any{"alg": "HS256", "typ": "JWT", "kid": rsaKID}, validClaims(nil))
			},
			want: ReasonAlgNotAllowed,
		},
		{
			name:     "alg not in the allowlist",
			verifier: rsaOnly,
			token:    func(t *testing.T) string { return mint(t, idp.Issuer, ecKID, validClaims(nil)) },
			want:     ReasonAlgNotAllowed,
		},
		{
			name: "ES256 header naming the RSA key",
			token: func(t *testing.T) string {
				return unsignedToken(t, map[string]any{"alg": "ES256", "kid": rsaKID}, validClaims(nil), make([]byte, 64))
			},
			want: ReasonAlgNotAllowed,
		},
		{
			name: "RS256 header naming the EC key",
			token: func(t *testing.T) string {
				return unsignedToken(t, map[string]any{"alg": "RS256", "kid": ecKID}, validClaims(nil), make([]byte, 256))
			},
			want: ReasonAlgNotAllowed,
		},
		{
			name: "unknown kid",
			token: func(t *testing.T) string {
				return mint(t, stranger, stranger.SigningKeyID(), validClaims(nil))
			},
			want: ReasonUnknownKID,
		},
		{
			name: "tampered payload",
			token: func(t *testing.T) string {
				parts := strings.Split(mint(t, idp.Issuer, rsaKID, validClaims(nil)), ".")
				parts[1] = segment(t, validClaims(map[string]any{"sub": "admin"}))
				return strings.Join(parts, ".")
			},
			want: ReasonBadSignature,
		},
		{
			name: "signature of another token",
			token: func(t *testing.T) string {
				a := strings.Split(mint(t, idp.Issuer, ecKID, validClaims(map[string]any{"sub": "alice"})), ".")
				b := strings.Split(mint(t, idp.Issuer, ecKID, validClaims(map[string]any{"sub": "mallory"})), ".")
				return b[0] + "." + b[1] + "." + a[2]
			},
			want: ReasonBadSignature,
		},
		{
			name: "two segments",
			token: func(t *testing.T) string {
				return segment(t, map[string]any{"alg": "RS256"}) + "." + segment(t, validClaims(nil))
			},
			want: ReasonMalformed,
		},
		{
			name:  "header not base64url",
			token: func(t *testing.T) string { return "***." + segment(t, validClaims(nil)) + ".c2ln" },
			want:  ReasonMalformed,
		},
		{
			name: "header not JSON",
			token: func(t *testing.T) string {
				return base64.RawURLEncoding.EncodeToString([]byte("alg=RS256")) + "." + segment(t, validClaims(nil)) + ".c2ln"
			},
			want: ReasonMalformed,
		},
		{
			name: "header without alg",
			token: func(t *testing.T) string {
				return unsignedToken(t, map[string]any{"kid": rsaKID}, validClaims(nil), []byte("sig"))
			},
			want: ReasonMalformed,
		},
		{
			name:     "longer than MaxTokenBytes",
			verifier: small,
			token:    func(t *testing.T) string { return mint(t, idp.Issuer, rsaKID, validClaims(nil)) },
			want:     ReasonMalformed,
		},
		{
			name:  "empty",
			token: func(t *testing.T) string { return "" },
			want:  ReasonMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifier := tt.verifier
			if verifier == nil {
				verifier = v
			}
			token := tt.token(t)
			claims, err := verifyWithin(t, verifier, context.Background(), token)
			assertNoTokenInError(t, err, token)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify rejected a valid token: %v", err)
				}
				if claims.Subject != "user-1" || claims.Issuer != testIssuer || claims.Expiry.IsZero() {
					t.Errorf("claims = %+v, want sub user-1, iss %s, an expiry", claims, testIssuer)
				}
				return
			}
			if got := Reason(err); got != tt.want {
				t.Fatalf("Verify reason = %q (err %v), want %q", got, err, tt.want)
			}
			var authErr *Error
			if !errors.As(err, &authErr) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if claims != nil {
				t.Errorf("rejected token returned claims %+v", claims)
			}
		})
	}
}

func TestVerifyReturnsClaims(t *testing.T) {
	idp := newTestIdP(t, authtest.WithAlgorithm(authtest.EdDSA))
	v := newTestVerifier(t, idp.config())
	iat := time.Now().Add(-time.Minute).Truncate(time.Second)
	token, err := idp.Mint(validClaims(map[string]any{
		"iat":        iat.Unix(),
		"nbf":        iat.Unix(),
		"jti":        "token-7",
		"aud":        []string{testAudience, "other"},
		"discord_id": 80351110224678912, // a snowflake as a JSON number: float64 would round it
		"name":       "Alice",
		"admin":      true,
		"roles":      []string{"dm"},
	}))
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	c, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.ID != "token-7" || !c.IssuedAt.Equal(iat) || !c.NotBefore.Equal(iat) || len(c.Audience) != 2 {
		t.Errorf("registered claims = %+v", c)
	}
	wantStrings := map[string]struct {
		want string
		ok   bool
	}{
		"discord_id": {"80351110224678912", true},
		"name":       {"Alice", true},
		"admin":      {"true", true},
		"sub":        {"user-1", true},
		"roles":      {"", false},
		"missing":    {"", false},
	}
	for name, want := range wantStrings {
		if got, ok := c.String(name); got != want.want || ok != want.ok {
			t.Errorf("String(%q) = %q, %v; want %q, %v", name, got, ok, want.want, want.ok)
		}
	}
	if roles, ok := c.Get("roles"); !ok || len(roles.([]any)) != 1 {
		t.Errorf("Get(roles) = %v, %v", roles, ok)
	}
	if _, ok := c.Get("missing"); ok {
		t.Error("Get(missing) reported a claim")
	}
	seen := 0
	for range c.All() {
		seen++
	}
	if seen != 11 {
		t.Errorf("All yielded %d claims, want 11", seen)
	}
}

func TestVerifyHonoursJWKAlg(t *testing.T) {
	idp := newTestIdP(t)
	restricted := strings.Replace(string(idp.JWKS()), `"alg":"RS256"`, `"alg":"RS384"`, 1)
	if restricted == string(idp.JWKS()) {
		t.Fatal("JWKS has no alg member to change")
	}
	cfg := idp.config()
	cfg.JWKSURL = newJWKSServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(restricted)) })
	cfg.Algorithms = []string{"RS256", "RS384"}
	v := newTestVerifier(t, cfg)
	_, err := v.Verify(context.Background(), mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil)))
	if Reason(err) != ReasonAlgNotAllowed {
		t.Fatalf("RS256 token for a JWK restricted to RS384 = %v, want reason %s", err, ReasonAlgNotAllowed)
	}
}

func TestTypeAndLifetimeChecks(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name   string
		typ    string // the issuer's typ header
		types  []string
		max    time.Duration
		claims map[string]any
		want   string // reason, "" to accept
	}{
		{name: "any type by default", typ: "whatever"},
		{name: "no type by default", typ: ""},
		{name: "the configured type", typ: "at+jwt", types: []string{"at+jwt"}},
		{name: "case and the application/ prefix do not matter", typ: "application/AT+JWT", types: []string{"at+jwt"}},
		{name: "another type", typ: "JWT", types: []string{"at+jwt"}, want: ReasonBadType},
		{name: "no type when types are configured", typ: "", types: []string{"at+jwt"}, want: ReasonBadType},
		{name: "a lifetime within the bound", max: 2 * time.Hour},
		{name: "a lifetime over the bound", max: 30 * time.Minute, want: ReasonLifetimeTooLong},
		{name: "without iat, the lifetime left counts", max: 30 * time.Minute,
			claims: map[string]any{"iat": nil, "exp": now.Add(2 * time.Hour).Unix()}, want: ReasonLifetimeTooLong},
		{name: "without iat, a short remaining lifetime passes", max: 30 * time.Minute,
			claims: map[string]any{"iat": nil, "exp": now.Add(10 * time.Minute).Unix()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp := newTestIdP(t, authtest.WithType(tc.typ))
			cfg := idp.config()
			cfg.Types, cfg.MaxLifetime = tc.types, tc.max
			v := newTestVerifier(t, cfg)
			token := mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(tc.claims))
			_, err := v.Verify(context.Background(), token)
			if got := Reason(err); got != tc.want {
				t.Fatalf("Verify: %v (reason %q), want reason %q", err, got, tc.want)
			}
		})
	}
	for _, bad := range []Config{{Types: []string{""}}, {MaxLifetime: -time.Second}} {
		bad.JWKSURL, bad.Issuer, bad.Audiences = "https://idp.test/jwks", testIssuer, []string{testAudience}
		if _, err := New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
