package placeholder

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestResolve(t *testing.T) {
	t.Setenv("COVEN_PH_SET", "https://idp.example/jwks")
	t.Setenv("COVEN_PH_EMPTY", " ")
	repl := caddy.NewReplacer()
	for _, tc := range []struct {
		raw, want, err string
	}{
		{"{env.COVEN_PH_SET}", "https://idp.example/jwks", ""},
		{"literal", "literal", ""},
		{"", "", ""}, // not given: the option's own rule applies
		{"{env.COVEN_PH_UNSET_1}", "", `jwks_url "{env.COVEN_PH_UNSET_1}" resolved to an empty value: environment variable COVEN_PH_UNSET_1 is not set`},
		{"{env.COVEN_PH_EMPTY}", "", "environment variable COVEN_PH_EMPTY is empty"},
		{"{env.COVEN_PH_UNSET_1}{env.COVEN_PH_EMPTY}", "", "COVEN_PH_UNSET_1 is not set, environment variable COVEN_PH_EMPTY is empty"},
	} {
		got, err := Resolve(repl, "jwks_url", tc.raw)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Resolve(%q) error %v, want one saying %q", tc.raw, err, tc.err)
		}
	}
}

func TestFields(t *testing.T) {
	t.Setenv("COVEN_PH_LIST", "https://a.example https://b.example")
	repl := caddy.NewReplacer()
	got, err := Fields(repl, "origins", []string{"{env.COVEN_PH_LIST}", "https://c.example", "{env.COVEN_PH_UNSET_2}"})
	if err != nil || strings.Join(got, ",") != "https://a.example,https://b.example,https://c.example" {
		t.Fatalf("Fields = %q, %v", got, err)
	}
	if got, err := Fields(repl, "origins", nil); err != nil || got != nil {
		t.Fatalf("Fields of nothing = %q, %v", got, err)
	}
	_, err = Fields(repl, "origins", []string{"{env.COVEN_PH_UNSET_2}"})
	if err == nil || !strings.Contains(err.Error(), "environment variable COVEN_PH_UNSET_2 is not set") {
		t.Fatalf("Fields of an unset variable: %v", err)
	}
}
