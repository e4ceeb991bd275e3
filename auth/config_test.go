package auth

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	valid := func() Config {
		return Config{JWKSURL: "https://idp.test/jwks.json", Issuer: testIssuer, Audiences: []string{testAudience}}
	}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{name: "missing JWKS URL", change: func(c *Config) { c.JWKSURL = "" }, wantErr: "jwks_url is required"},
		{name: "JWKS URL with another scheme", change: func(c *Config) { c.JWKSURL = "file:///etc/jwks.json" }, wantErr: `not "file"`},
		{name: "JWKS URL without host", change: func(c *Config) { c.JWKSURL = "https:///jwks.json" }, wantErr: "no host"},
		{name: "JWKS URL unparsable", change: func(c *Config) { c.JWKSURL = "https://idp.test/%zz" }, wantErr: "not a valid URL"},
		{name: "missing issuer", change: func(c *Config) { c.Issuer = "" }, wantErr: "issuer is required"},
		{name: "no audience", change: func(c *Config) { c.Audiences = nil }, wantErr: "at least one audience"},
		{name: "empty audience", change: func(c *Config) { c.Audiences = []string{testAudience, ""} }, wantErr: "empty strings"},
		{name: "alg none", change: func(c *Config) { c.Algorithms = []string{"RS256", "none"} }, wantErr: `"none" is never allowed`},
		{name: "HMAC alg", change: func(c *Config) { c.Algorithms = []string{"HS256"} }, wantErr: "HMAC needs a shared secret"},
		{name: "unknown alg", change: func(c *Config) { c.Algorithms = []string{"RS1"} }, wantErr: `"RS1" is not supported`},
		{name: "negative leeway", change: func(c *Config) { c.Leeway = -time.Second }, wantErr: "leeway must not be negative"},
		{name: "negative fetch timeout", change: func(c *Config) { c.FetchTimeout = -1 }, wantErr: "fetch_timeout must not be negative"},
		{name: "negative cooldown", change: func(c *Config) { c.UnknownKIDCooldown = -1 }, wantErr: "unknown_kid_cooldown must not be negative"},
		{name: "min refresh above refresh", change: func(c *Config) { c.MinRefreshInterval = time.Hour; c.RefreshInterval = time.Minute }, wantErr: "min_refresh_interval must not exceed"},
		{name: "backoff min above max", change: func(c *Config) { c.RetryBackoffMin = time.Minute; c.RetryBackoffMax = time.Second }, wantErr: "retry_backoff_min must not exceed"},
		{name: "negative max JWKS bytes", change: func(c *Config) { c.MaxJWKSBytes = -1 }, wantErr: "max_jwks_bytes"},
		{name: "negative max JWKS keys", change: func(c *Config) { c.MaxJWKSKeys = -1 }, wantErr: "max_jwks_keys"},
		{name: "negative max token bytes", change: func(c *Config) { c.MaxTokenBytes = -1 }, wantErr: "max_token_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.change(&cfg)
			v, err := New(cfg)
			if err == nil {
				v.Stop()
				t.Fatalf("New accepted the config, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	v, err := New(Config{JWKSURL: "https://idp.test/jwks.json", Issuer: testIssuer, Audiences: []string{testAudience}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer v.Stop()
	got := v.cfg
	want := map[string][2]any{
		"Leeway":             {got.Leeway, DefaultLeeway},
		"FetchTimeout":       {got.FetchTimeout, DefaultFetchTimeout},
		"RefreshInterval":    {got.RefreshInterval, DefaultRefreshInterval},
		"MinRefreshInterval": {got.MinRefreshInterval, DefaultMinRefreshInterval},
		"UnknownKIDCooldown": {got.UnknownKIDCooldown, DefaultUnknownKIDCooldown},
		"RetryBackoffMin":    {got.RetryBackoffMin, DefaultRetryBackoffMin},
		"RetryBackoffMax":    {got.RetryBackoffMax, DefaultRetryBackoffMax},
		"MaxJWKSBytes":       {got.MaxJWKSBytes, int64(DefaultMaxJWKSBytes)},
		"MaxJWKSKeys":        {got.MaxJWKSKeys, DefaultMaxJWKSKeys},
		"MaxTokenBytes":      {got.MaxTokenBytes, DefaultMaxTokenBytes},
	}
	for field, pair := range want {
		if pair[0] != pair[1] {
			t.Errorf("%s = %v, want %v", field, pair[0], pair[1])
		}
	}
	if !slices.Equal(got.Algorithms, DefaultAlgorithms) {
		t.Errorf("Algorithms = %v, want %v", got.Algorithms, DefaultAlgorithms)
	}
	if got.HTTPClient == nil || got.HTTPClient == http.DefaultClient {
		t.Errorf("HTTPClient = %v, want a client of the Verifier's own", got.HTTPClient)
	}
}

func TestNewCopiesSlices(t *testing.T) {
	auds := []string{testAudience}
	v, err := New(Config{JWKSURL: "https://idp.test/jwks.json", Issuer: testIssuer, Audiences: auds})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer v.Stop()
	auds[0] = "changed-later"
	if v.cfg.Audiences[0] != testAudience {
		t.Errorf("the Verifier sees a later change to the caller's Audiences slice: %v", v.cfg.Audiences)
	}
}

func TestNewDoesNoNetworkIO(t *testing.T) {
	idp := newTestIdP(t)
	v := newTestVerifier(t, idp.config())
	if got := idp.attempts.Load(); got != 0 {
		t.Fatalf("New made %d JWKS requests, want 0", got)
	}
	if s := v.Status(); s.KeysLoaded || !s.LastAttempt.IsZero() {
		t.Fatalf("Status after New = %+v, want no keys and no attempt", s)
	}
}
