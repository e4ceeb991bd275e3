package worker

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testToken  = "MTEwMDAwMDAwMDAwMDAwMDAw.Gworker.bot-token-that-must-never-be-logged"
	testSecret = "worker-webhook-secret-that-must-never-be-logged"
)

// baseEnv is a complete, valid environment.
func baseEnv(dir string) map[string]string {
	return map[string]string{
		"DISCORD_BOT_TOKEN":       testToken,
		"DISCORD_GUILD_ID":        "1100000000000000001",
		"DISCORD_CATEGORY_ID":     "1110000000000000001",
		"COVEN_EDGE_URL":          "http://127.0.0.1:8080/internal/events",
		"COVEN_WEBHOOK_SECRET":    testSecret,
		"COVEN_WORKER_OUTBOX_DIR": dir,
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadDefaultsAndPrecedence(t *testing.T) {
	dir := t.TempDir()
	env := baseEnv(dir)
	env["COVEN_WORKER_MAX_BATCH_EVENTS"] = "50"
	env["COVEN_WORKER_BACKOFF_MAX"] = "5s"
	cfg, err := Load([]string{"-max-batch-events", "70", "-listen", "127.0.0.1:0"}, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBatchEvents != 70 {
		t.Fatalf("flag did not win over the environment: %d", cfg.MaxBatchEvents)
	}
	if cfg.BackoffMax != 5*time.Second || cfg.BackoffInitial != 250*time.Millisecond || cfg.Keepalive != 30*time.Second {
		t.Fatalf("durations %v %v %v", cfg.BackoffMax, cfg.BackoffInitial, cfg.Keepalive)
	}
	if cfg.DeadLetterDir != filepath.Join(dir, "deadletter") || cfg.Token != testToken || cfg.WebhookScheme != "coven" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestLoadGatewaySettings(t *testing.T) {
	env := baseEnv(t.TempDir())
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InvalidSessionWaitMin != time.Second || cfg.InvalidSessionWaitMax != 5*time.Second || cfg.IdentifyInterval != 5*time.Second || cfg.GatewayResumeMaxAge != 2*time.Minute {
		t.Fatalf("defaults %v %v %v %v", cfg.InvalidSessionWaitMin, cfg.InvalidSessionWaitMax, cfg.IdentifyInterval, cfg.GatewayResumeMaxAge)
	}
	env["COVEN_WORKER_GATEWAY_RESUME_MAX_AGE"] = "0s"
	env["COVEN_WORKER_INVALID_SESSION_WAIT_MAX"] = "10s"
	if cfg, err = Load([]string{"-identify-interval", "6s"}, getenv(env)); err != nil {
		t.Fatal(err)
	}
	if cfg.GatewayResumeMaxAge != 0 || cfg.InvalidSessionWaitMax != 10*time.Second || cfg.IdentifyInterval != 6*time.Second {
		t.Fatalf("settings %v %v %v", cfg.GatewayResumeMaxAge, cfg.InvalidSessionWaitMax, cfg.IdentifyInterval)
	}
}

func TestLoadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	os.WriteFile(secretFile, []byte(testSecret+"\r\n"), 0o600)
	env := baseEnv(dir)
	delete(env, "DISCORD_BOT_TOKEN")
	delete(env, "COVEN_WEBHOOK_SECRET")
	cfg, err := Load([]string{"-token-file", tokenFile, "-webhook-secret-file", secretFile}, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != testToken || cfg.WebhookSecret != testSecret {
		t.Fatal("secrets read from files differ from the files' first lines")
	}
}

// TestLoadRefuses lists bad configurations: each error names the setting, and none quotes a secret.
func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	cases := []struct {
		name string
		env  map[string]string // merged over baseEnv; "" deletes
		args []string
		msg  string
	}{
		{"no token", map[string]string{"DISCORD_BOT_TOKEN": ""}, nil, "-token ($DISCORD_BOT_TOKEN) or -token-file ($DISCORD_BOT_TOKEN_FILE): required"},
		{"token and token file", map[string]string{"DISCORD_BOT_TOKEN_FILE": empty}, nil, "set one, not both"},
		{"missing token file", map[string]string{"DISCORD_BOT_TOKEN": "", "DISCORD_BOT_TOKEN_FILE": filepath.Join(dir, "nope")}, nil, "-token-file"},
		{"empty token file", map[string]string{"DISCORD_BOT_TOKEN": "", "DISCORD_BOT_TOKEN_FILE": empty}, nil, "is empty"},
		{"token with white space", map[string]string{"DISCORD_BOT_TOKEN": testToken + " x"}, nil, "-token ($DISCORD_BOT_TOKEN): contains white space"},
		{"no guild", map[string]string{"DISCORD_GUILD_ID": ""}, nil, "-guild ($DISCORD_GUILD_ID): required"},
		{"guild not a snowflake", map[string]string{"DISCORD_GUILD_ID": "my-guild"}, nil, "-guild ($DISCORD_GUILD_ID)"},
		{"no category", map[string]string{"DISCORD_CATEGORY_ID": ""}, nil, "-category ($DISCORD_CATEGORY_ID)"},
		{"edge URL without scheme", map[string]string{"COVEN_EDGE_URL": "edge:8080/internal/events"}, nil, "-edge-url ($COVEN_EDGE_URL)"},
		{"no webhook secret", map[string]string{"COVEN_WEBHOOK_SECRET": ""}, nil, "-webhook-secret ($COVEN_WEBHOOK_SECRET) or -webhook-secret-file"},
		{"short webhook secret", map[string]string{"COVEN_WEBHOOK_SECRET": "short"}, nil, "-webhook-secret ($COVEN_WEBHOOK_SECRET): secret is shorter than 16 bytes"},
		{"unknown scheme", map[string]string{"COVEN_WEBHOOK_SCHEME": "hmac"}, nil, "-webhook-scheme"},
		{"standard secret not base64", map[string]string{"COVEN_WEBHOOK_SCHEME": "standard"}, nil, "-webhook-secret ($COVEN_WEBHOOK_SECRET): secret is not padded standard base64"},
		{"no outbox", map[string]string{"COVEN_WORKER_OUTBOX_DIR": ""}, nil, "-outbox ($COVEN_WORKER_OUTBOX_DIR): required"},
		{"bad listen", nil, []string{"-listen", "9464"}, "-listen ($COVEN_WORKER_LISTEN)"},
		{"bad discord api", map[string]string{"DISCORD_API_URL": "127.0.0.1:1"}, nil, "-discord-api ($DISCORD_API_URL)"},
		{"bad log level", nil, []string{"-log-level", "loud"}, "-log-level"},
		{"batch over the edge's limit", nil, []string{"-max-batch-events", "5000"}, "-max-batch-events ($COVEN_WORKER_MAX_BATCH_EVENTS): must be between 1 and 1000"},
		{"zero batch", map[string]string{"COVEN_WORKER_MAX_BATCH_EVENTS": "0"}, nil, "-max-batch-events"},
		{"tiny batch bytes", nil, []string{"-max-batch-bytes", "10"}, "-max-batch-bytes"},
		{"tiny outbox", nil, []string{"-max-pending-events", "1"}, "-max-pending-events"},
		{"backoff max under initial", nil, []string{"-backoff-initial", "2s", "-backoff-max", "1s"}, "-backoff-max ($COVEN_WORKER_BACKOFF_MAX)"},
		{"keepalive over stale", nil, []string{"-keepalive", "5m"}, "-edge-stale-after"},
		{"reconnect max under initial", nil, []string{"-reconnect-initial", "5s", "-reconnect-max", "1s"}, "-reconnect-max"},
		{"invalid session wait max under min", nil, []string{"-invalid-session-wait-min", "3s", "-invalid-session-wait-max", "2s"}, "-invalid-session-wait-max ($COVEN_WORKER_INVALID_SESSION_WAIT_MAX)"},
		{"invalid session wait too long", map[string]string{"COVEN_WORKER_INVALID_SESSION_WAIT_MIN": "2m"}, nil, "-invalid-session-wait-min"},
		{"negative identify interval", nil, []string{"-identify-interval", "-1s"}, "-identify-interval ($COVEN_WORKER_IDENTIFY_INTERVAL)"},
		{"resume max age over an hour", map[string]string{"COVEN_WORKER_GATEWAY_RESUME_MAX_AGE": "2h"}, nil, "-gateway-resume-max-age ($COVEN_WORKER_GATEWAY_RESUME_MAX_AGE): must be between 0s and 1h0m0s"},
		{"environment value not a number", map[string]string{"COVEN_WORKER_MAX_DEAD_LETTERS": "many"}, nil, "$COVEN_WORKER_MAX_DEAD_LETTERS: invalid value for -max-dead-letters"},
		{"environment value not a duration", map[string]string{"COVEN_WORKER_KEEPALIVE": "30"}, nil, "$COVEN_WORKER_KEEPALIVE"},
		{"unknown flag", nil, []string{"-colour"}, "-colour"},
		{"stray argument", nil, []string{"run"}, `unexpected argument "run"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := baseEnv(dir)
			for k, v := range c.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			_, err := Load(c.args, getenv(env))
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want one containing %q", err, c.msg)
			}
			for _, secret := range []string{testToken, testSecret, "short"} {
				if strings.Contains(err.Error(), secret) && !strings.Contains(c.msg, secret) {
					t.Fatalf("error quotes a secret: %v", err)
				}
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg, err := Load(nil, getenv(baseEnv(t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", cfg)
	printed := []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg), logs.String()}
	for _, p := range printed {
		if strings.Contains(p, testToken) || strings.Contains(p, testSecret) {
			t.Fatalf("a secret is printed: %s", p)
		}
		if !strings.Contains(p, "1100000000000000001") {
			t.Fatalf("the configuration is not printed at all: %s", p)
		}
	}
	var usage bytes.Buffer
	Usage(&usage)
	if !strings.Contains(usage.String(), "-max-batch-events  $COVEN_WORKER_MAX_BATCH_EVENTS") {
		t.Fatalf("usage lacks the flags and variables:\n%s", usage.String())
	}
}
