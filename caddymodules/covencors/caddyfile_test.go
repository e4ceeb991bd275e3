package covencors

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func adapt(site string) error {
	_, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte("localhost {\n"+site+"\n}\n"), nil)
	return err
}

func TestStarIsReadAsAMatcher(t *testing.T) {
	err := adapt("coven_cors *")
	if err == nil || !strings.Contains(err.Error(), `write "coven_cors { origins * }"`) {
		t.Fatalf("coven_cors *: %v, want the hint", err)
	}
	for _, ok := range []string{"coven_cors * https://app.example.com", "coven_cors {\n\torigins *\n}", "coven_cors https://app.example.com", "coven_cors /api/* https://app.example.com"} {
		if err := adapt(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
