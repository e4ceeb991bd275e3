package covenapp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestJWTCaddyfile(t *testing.T) {
	app := new(App)
	err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`coven {
	jwt {
		jwks_url https://idp.example/jwks
		issuer https://idp.example/
		audience spellcoven other
		algorithms ES256
		leeway 10s
		fetch_timeout 2s
		refresh_interval 5m
		types at+jwt
		max_lifetime 1h
		cache_size 500
	}
}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &JWTConfig{JWKSURL: "https://idp.example/jwks", Issuer: "https://idp.example/", Audiences: []string{"spellcoven", "other"},
		Algorithms: []string{"ES256"}, Leeway: caddy.Duration(10 * time.Second), FetchTimeout: caddy.Duration(2 * time.Second),
		RefreshInterval: caddy.Duration(5 * time.Minute), Types: []string{"at+jwt"}, MaxLifetime: caddy.Duration(time.Hour), CacheSize: 500}
	if !reflect.DeepEqual(app.JWT, want) {
		t.Fatalf("jwt = %+v, want %+v", app.JWT, want)
	}
	if ac := app.JWT.authConfig(); ac.CacheSize != 500 || ac.MaxLifetime != time.Hour || ac.Types[0] != "at+jwt" {
		t.Fatalf("auth config %+v", ac)
	}
	for in, msg := range map[string]string{
		"cache_size -1":   "non-negative",
		"cache_size many": "non-negative",
		"types":           "at least one typ",
		"frobnicate 1":    `unknown option "frobnicate"`,
	} {
		err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser("coven {\n\tjwt {\n\t\t" + in + "\n\t}\n}"))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want an error saying %q", in, err, msg)
		}
	}
}

// A written value that resolves empty names the placeholder and its environment variable.
func TestJWTPlaceholdersThatResolveEmpty(t *testing.T) {
	t.Setenv("COVEN_TEST_ISSUER", "https://idp.example/")
	repl := caddy.NewReplacer()
	good := JWTConfig{JWKSURL: "https://idp.example/jwks", Issuer: "{env.COVEN_TEST_ISSUER}", Audiences: []string{"a b"}}
	got, err := good.resolved(repl)
	if err != nil || got.Issuer != "https://idp.example/" || !reflect.DeepEqual(got.Audiences, []string{"a", "b"}) {
		t.Fatalf("resolved = %+v, %v", got, err)
	}
	for name, c := range map[string]JWTConfig{
		"jwks_url": {JWKSURL: "{env.COVEN_TEST_UNSET_JWKS}", Issuer: "x", Audiences: []string{"a"}},
		"issuer":   {JWKSURL: "https://idp.example/jwks", Issuer: "{env.COVEN_TEST_UNSET_JWKS}", Audiences: []string{"a"}},
		"audience": {JWKSURL: "https://idp.example/jwks", Issuer: "x", Audiences: []string{"{env.COVEN_TEST_UNSET_JWKS}"}},
	} {
		_, err := c.resolved(repl)
		if err == nil || !strings.Contains(err.Error(), name+` "{env.COVEN_TEST_UNSET_JWKS}" resolved to an empty value: environment variable COVEN_TEST_UNSET_JWKS is not set`) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
