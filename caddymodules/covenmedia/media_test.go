package covenmedia

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileRefuses(t *testing.T) {
	for _, c := range []struct{ input, err string }{
		{"coven_media extra", "wrong argument count"},
		{"coven_media {\n nope\n}", `unknown option "nope"`},
		{"coven_media {\n spectators yes\n}", "wrong argument count"},
		{"coven_media {\n admin_claim\n}", "admin_claim: expected a claim name"},
		{"coven_media {\n max_offer lots\n}", "lots"},
		{"coven_media {\n request_timeout soon\n}", "soon"},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want one containing %q", c.input, err, c.err)
		}
	}
}

func TestValidateAndSecret(t *testing.T) {
	if err := (&Handler{}).Validate(); err == nil || !strings.Contains(err.Error(), "worker") {
		t.Errorf("no worker: %v", err)
	}
	if err := (&Handler{Worker: "w:1", MaxOffer: -1}).Validate(); err == nil {
		t.Error("a negative limit was accepted")
	}
	repl := caddy.NewReplacer()
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("whsec_file-secret\n"), 0o600)
	t.Setenv("COVEN_MEDIA_TEST_SECRET", "from-env")
	for _, c := range []struct {
		h         Handler
		want, err string
	}{
		{Handler{Secret: "{env.COVEN_MEDIA_TEST_SECRET}"}, "from-env", ""},
		{Handler{SecretFile: file}, "whsec_file-secret", ""},
		{Handler{}, "", "secret (or secret_file) is required"},
		{Handler{Secret: "a", SecretFile: file}, "", "not both"},
		{Handler{Secret: "{env.COVEN_MEDIA_TEST_UNSET}"}, "", "is empty"},
		{Handler{SecretFile: filepath.Join(t.TempDir(), "missing")}, "", "reading the secret file"},
	} {
		got, err := c.h.secret(repl)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c.h, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "whsec_") {
				t.Errorf("an error repeats the secret: %v", err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: %q, %v", c.h, got, err)
		}
	}
}
