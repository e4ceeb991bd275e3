package covenapp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/spellcoven/gateway/hub/redisbroker"
)

func TestBrokerCaddyfile(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  *BrokerConfig
		err   string
	}{
		{"memory", "coven {\n\tbroker memory\n}", &BrokerConfig{Type: BrokerMemory}, ""},
		{"redis with a URL", "coven {\n\tbroker redis {env.REDIS_URL}\n}", &BrokerConfig{Type: BrokerRedis, URL: "{env.REDIS_URL}"}, ""},
		{"redis with every limit", `coven {
	broker redis rediss://redis.internal:6380/0 {
		key_prefix coven:guild1:
		stream_length 5000
		checkpoint_interval 200
		dial_timeout 3s
		read_timeout 1s
	}
	history_size 5000
}`, &BrokerConfig{Type: BrokerRedis, URL: "rediss://redis.internal:6380/0", KeyPrefix: "coven:guild1:", StreamLength: 5000,
			CheckpointInterval: 200, DialTimeout: caddy.Duration(3 * time.Second), ReadTimeout: caddy.Duration(time.Second)}, ""},
		{"no type", "coven {\n\tbroker\n}", nil, "expected memory or redis"},
		{"unknown type", "coven {\n\tbroker nats nats://x\n}", nil, `unknown type "nats"`},
		{"redis without a URL", "coven {\n\tbroker redis\n}", nil, "expected a URL"},
		{"redis with two URLs", "coven {\n\tbroker redis redis://a redis://b\n}", nil, "unexpected argument"},
		{"memory with a URL", "coven {\n\tbroker memory redis://a\n}", nil, "unexpected argument"},
		{"memory with options", "coven {\n\tbroker memory {\n\t\tstream_length 5\n\t}\n}", nil, "takes no options"},
		{"unknown option", "coven {\n\tbroker redis redis://a {\n\t\tstream 5\n\t}\n}", nil, `unknown option "stream"`},
		{"negative limit", "coven {\n\tbroker redis redis://a {\n\t\tstream_length -5\n\t}\n}", nil, "non-negative"},
		{"bad duration", "coven {\n\tbroker redis redis://a {\n\t\tread_timeout soon\n\t}\n}", nil, "not a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := new(App)
			err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(app.Broker, tc.want) {
				t.Errorf("broker = %+v, want %+v", app.Broker, tc.want)
			}
			if err := app.Broker.validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

func TestBrokerRedisConfigResolvesPlaceholders(t *testing.T) {
	t.Setenv("COVEN_TEST_REDIS_URL", "redis://:pw@127.0.0.1:6390/2")
	repl := caddy.NewReplacer()
	cases := []struct {
		name        string
		cfg         *BrokerConfig
		historySize int
		want        *redisbroker.Config
		err         string
	}{
		{"no broker is memory", nil, 0, nil, ""},
		{"memory", &BrokerConfig{Type: BrokerMemory}, 0, nil, ""},
		{"redis from the environment, stream as long as the history", &BrokerConfig{Type: BrokerRedis, URL: "{env.COVEN_TEST_REDIS_URL}"}, 500,
			&redisbroker.Config{URL: "redis://:pw@127.0.0.1:6390/2", StreamLength: 500}, ""},
		{"an explicit stream length wins", &BrokerConfig{Type: BrokerRedis, URL: "redis://h", StreamLength: 800, ReadTimeout: caddy.Duration(time.Second)}, 500,
			&redisbroker.Config{URL: "redis://h", StreamLength: 800, ReadTimeout: time.Second}, ""},
		{"an unset variable", &BrokerConfig{Type: BrokerRedis, URL: "{env.COVEN_TEST_UNSET_URL}"}, 0, nil, "environment variable COVEN_TEST_UNSET_URL is not set"},
		{"unknown type", &BrokerConfig{Type: "kafka"}, 0, nil, "unknown type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.redisConfig(repl, tc.historySize)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestBrokerValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *BrokerConfig
		err  string
	}{
		{"none", nil, ""},
		{"memory", &BrokerConfig{Type: BrokerMemory}, ""},
		{"redis", &BrokerConfig{Type: BrokerRedis, URL: "redis://h"}, ""},
		{"memory with a URL", &BrokerConfig{Type: BrokerMemory, URL: "redis://h"}, "takes no URL"},
		{"redis without a URL", &BrokerConfig{Type: BrokerRedis}, "requires a URL"},
		{"unknown", &BrokerConfig{Type: "x"}, "unknown type"},
		{"negative limit", &BrokerConfig{Type: BrokerRedis, URL: "redis://h", CheckpointInterval: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate()
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
