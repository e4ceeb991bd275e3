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
