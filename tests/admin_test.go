package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A Caddyfile mistake an admin makes is refused by `caddy validate` with an error that names its
// cause, not the symptom.
func TestConfigurationMistakesNameTheirCause(t *testing.T) {
	const global = `{
	coven {
		guild 1100000000000000001
		jwt {
			jwks_url %s
			issuer https://idp.example.com/
			audience spell-coven
		}
	}
}
`
	jwt := func(jwks string) string { return strings.Replace(global, "%s", jwks, 1) }
	base := jwt("https://idp.example.com/jwks")
	for _, tc := range []struct {
		name, caddyfile, want string
	}{
		{"an unset variable in the jwt block", jwt("{env.COVEN_TEST_UNSET_JWKS}") + "localhost {\n\tcoven_ws\n}\n",
			`jwks_url "{env.COVEN_TEST_UNSET_JWKS}" resolved to an empty value: environment variable COVEN_TEST_UNSET_JWKS is not set`},
		{"coven_ws origins from an unset variable", base + "localhost {\n\tcoven_ws {\n\t\torigins {env.COVEN_TEST_UNSET_ORIGIN}\n\t}\n}\n",
			`coven_ws: origins "{env.COVEN_TEST_UNSET_ORIGIN}" resolved to an empty value: environment variable COVEN_TEST_UNSET_ORIGIN is not set`},
		{"coven_cors origins from an unset variable", base + "localhost {\n\tcoven_cors {env.COVEN_TEST_UNSET_ORIGIN}\n\trespond ok\n}\n",
			`environment variable COVEN_TEST_UNSET_ORIGIN is not set`},
		{"coven_cors *", base + "localhost {\n\tcoven_cors *\n\trespond ok\n}\n", `write "coven_cors { origins * }"`},
		{"coven_events without coven_hmac", base + "localhost {\n\tcoven_events /internal/events\n}\n", "no coven_hmac comes before it"},
		{"the coven app's own error", jwt("ftp://idp.example.com/jwks") + "localhost {\n\tcoven_ws\n}\n", "jwks_url must use http or https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(path, []byte(tc.caddyfile), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(context.Background(), caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			raw, err := cmd.CombinedOutput()
			out := strings.ReplaceAll(string(raw), `\"`, `"`) // the log line is JSON
			if err == nil {
				t.Fatalf("caddy validate accepted it:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("caddy validate says:\n%s\nwant it to say %q", out, tc.want)
			}
			if strings.Contains(out, "global option (app) is required") {
				t.Fatalf("the cause is reported as a missing app:\n%s", out)
			}
		})
	}
	// The fixed form of each passes.
	path := filepath.Join(t.TempDir(), "Caddyfile")
	ok := base + "localhost {\n\tcoven_cors {\n\t\torigins *\n\t}\n\tcoven_hmac /internal/events secret-for-tests\n\tcoven_events /internal/events\n\tcoven_ws /ws\n}\n"
	if err := os.WriteFile(path, []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate refused the fixed form: %v\n%s", err, out)
	}
}
