package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeClaims(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		wantErr string
		check   func(t *testing.T, c *Claims)
	}{
		{
			name:    "registered claims",
			payload: `{"iss":"i","sub":"s","aud":"a","exp":1700000000,"nbf":1600000000,"iat":1650000000.5,"jti":"j"}`,
			check: func(t *testing.T, c *Claims) {
				if c.Issuer != "i" || c.Subject != "s" || c.ID != "j" || !slices.Equal(c.Audience, []string{"a"}) {
					t.Errorf("claims = %+v", c)
				}
				if !c.Expiry.Equal(time.Unix(1700000000, 0)) || !c.NotBefore.Equal(time.Unix(1600000000, 0)) {
					t.Errorf("exp, nbf = %v, %v", c.Expiry, c.NotBefore)
				}
				if !c.IssuedAt.Equal(time.Unix(1650000000, 500_000_000)) {
					t.Errorf("fractional iat = %v", c.IssuedAt)
				}
			},
		},
		{
			name:    "absent optional claims",
			payload: `{}`,
			check: func(t *testing.T, c *Claims) {
				if !c.Expiry.IsZero() || !c.IssuedAt.IsZero() || c.Audience != nil || c.Subject != "" {
					t.Errorf("claims = %+v, want all zero", c)
				}
			},
		},
		{
			name:    "aud array",
			payload: `{"aud":["a","b"]}`,
			check: func(t *testing.T, c *Claims) {
				if !slices.Equal(c.Audience, []string{"a", "b"}) {
					t.Errorf("aud = %v", c.Audience)
				}
			},
		},
		{
			name:    "large integers stay exact",
			payload: `{"discord_id":80351110224678912,"ratio":0.25}`,
			check: func(t *testing.T, c *Claims) {
				v, _ := c.Get("discord_id")
				if n, ok := v.(json.Number); !ok || n.String() != "80351110224678912" {
					t.Errorf("discord_id = %#v, want json.Number 80351110224678912", v)
				}
				if s, _ := c.String("ratio"); s != "0.25" {
					t.Errorf("String(ratio) = %q", s)
				}
			},
		},
		{name: "not JSON", payload: `eyJhbGciOi`, wantErr: "not a JSON object"},
		{name: "JSON array", payload: `["sub"]`, wantErr: "not a JSON object"},
		{name: "JSON null", payload: `null`, wantErr: "not a JSON object"},
		{name: "trailing data", payload: `{"sub":"a"}{"sub":"b"}`, wantErr: "trailing data"},
		{name: "iss not a string", payload: `{"iss":1}`, wantErr: "iss is not a string"},
		{name: "sub not a string", payload: `{"sub":["a"]}`, wantErr: "sub is not a string"},
		{name: "jti not a string", payload: `{"jti":true}`, wantErr: "jti is not a string"},
		{name: "aud null", payload: `{"aud":null}`, wantErr: "aud is null"},
		{name: "aud array with a number", payload: `{"aud":["a",1]}`, wantErr: "non-string"},
		{name: "aud object", payload: `{"aud":{"a":1}}`, wantErr: "neither a string nor an array"},
		{name: "exp string", payload: `{"exp":"1700000000"}`, wantErr: "exp is not a number"},
		{name: "exp negative", payload: `{"exp":-1}`, wantErr: "exp is not a valid date"},
		{name: "exp beyond year 9999", payload: `{"exp":1e300}`, wantErr: "exp is not a valid date"},
		{name: "nbf huge", payload: `{"nbf":253402300800}`, wantErr: "nbf is not a valid date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decodeClaims([]byte(tt.payload))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decodeClaims error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeClaims: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestCheckClaims(t *testing.T) {
	v, err := New(Config{JWKSURL: "https://idp.test/jwks", Issuer: testIssuer, Audiences: []string{testAudience}, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer v.Stop()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	valid := func() *Claims {
		return &Claims{Issuer: testIssuer, Subject: "s", Audience: []string{testAudience}, Expiry: now.Add(time.Minute)}
	}
	tests := []struct {
		name   string
		change func(c *Claims)
		want   string
	}{
		{name: "valid", change: func(c *Claims) {}},
		{name: "exp exactly at leeway edge", change: func(c *Claims) { c.Expiry = now.Add(-30 * time.Second) }, want: ReasonExpired},
		{name: "exp just inside leeway", change: func(c *Claims) { c.Expiry = now.Add(-29 * time.Second) }},
		{name: "nbf just inside leeway", change: func(c *Claims) { c.NotBefore = now.Add(30 * time.Second) }},
		{name: "nbf beyond leeway", change: func(c *Claims) { c.NotBefore = now.Add(31 * time.Second) }, want: ReasonNotYetValid},
		{name: "iat beyond leeway", change: func(c *Claims) { c.IssuedAt = now.Add(31 * time.Second) }, want: ReasonNotYetValid},
		{name: "iat in the past", change: func(c *Claims) { c.IssuedAt = now.Add(-time.Hour) }},
		{name: "issuer differs by a trailing slash", change: func(c *Claims) { c.Issuer = strings.TrimSuffix(testIssuer, "/") }, want: ReasonBadIssuer},
		{name: "audience case differs", change: func(c *Claims) { c.Audience = []string{strings.ToUpper(testAudience)} }, want: ReasonBadAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(c)
			err := v.checkClaims(c, now)
			if got := Reason(errorOrNil(err)); got != tt.want {
				t.Fatalf("checkClaims reason = %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

// errorOrNil turns a nil *Error into a nil error.
func errorOrNil(err *Error) error {
	if err == nil {
		return nil
	}
	return err
}

func TestReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil, want: ""},
		{name: "foreign error", err: errors.New("some other failure"), want: ""},
		{name: "auth error", err: reject(ReasonExpired, "x"), want: ReasonExpired},
		{name: "wrapped auth error", err: fmt.Errorf("handler: %w", reject(ReasonBadIssuer, "x")), want: ReasonBadIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.err); got != tt.want {
				t.Errorf("Reason = %q, want %q", got, tt.want)
			}
		})
	}
}
