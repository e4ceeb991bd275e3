package covenhmac

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestSecretReadAsAPathMatcher(t *testing.T) {
	adapt := func(site string) error {
		_, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte("localhost {\n"+site+"\n}\n"), nil)
		return err
	}
	const secret = "/Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA=="
	err := adapt("coven_hmac " + secret)
	if err == nil || !strings.Contains(err.Error(), "was read as a path matcher") {
		t.Fatalf("coven_hmac /<secret>: %v, want the hint", err)
	}
	if strings.Contains(err.Error(), "Zm9vYmFy") {
		t.Fatalf("the error repeats the secret: %v", err)
	}
	for _, ok := range []string{"coven_hmac /internal/events {env.COVEN_WEBHOOK_SECRET}", "coven_hmac {\n\tsecret " + secret + "\n}", "coven_hmac {env.COVEN_WEBHOOK_SECRET}"} {
		if err := adapt(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
