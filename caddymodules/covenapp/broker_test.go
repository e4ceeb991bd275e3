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
		{"sentinel", `coven {
	broker redis {
		sentinel coven 10.0.0.1:26379 10.0.0.2:26379 {env.MORE_SENTINELS}
		sentinel_username watcher
		sentinel_password {env.REDIS_SENTINEL_PASSWORD}
		username edge
		password {env.REDIS_PASSWORD}
		key_prefix coven:guild1:
	}
}`, &BrokerConfig{Type: BrokerRedis, Sentinel: &SentinelConfig{MasterName: "coven", Addresses: []string{"10.0.0.1:26379", "10.0.0.2:26379", "{env.MORE_SENTINELS}"},
			Username: "watcher", Password: "{env.REDIS_SENTINEL_PASSWORD}"}, Username: "edge", Password: "{env.REDIS_PASSWORD}", KeyPrefix: "coven:guild1:"}, ""},
		{"cluster", `coven {
	broker redis {
		cluster 10.0.0.1:6379 10.0.0.2:6379
		password {env.REDIS_PASSWORD}
	}
}`, &BrokerConfig{Type: BrokerRedis, Cluster: &ClusterConfig{Addresses: []string{"10.0.0.1:6379", "10.0.0.2:6379"}}, Password: "{env.REDIS_PASSWORD}"}, ""},
		{"no type", "coven {\n\tbroker\n}", nil, "expected memory or redis"},
		{"a URL and a sentinel", "coven {\n\tbroker redis redis://a {\n\t\tsentinel m s:26379\n\t}\n}", nil, "one of a URL, sentinel and cluster"},
		{"a sentinel and a cluster", "coven {\n\tbroker redis {\n\t\tsentinel m s:26379\n\t\tcluster c:6379\n\t}\n}", nil, "one of a URL, sentinel and cluster"},
		{"a sentinel without addresses", "coven {\n\tbroker redis {\n\t\tsentinel coven\n\t}\n}", nil, "master name and at least one sentinel address"},
		{"a cluster without addresses", "coven {\n\tbroker redis {\n\t\tcluster\n\t}\n}", nil, "addresses of some of its nodes"},
		{"a sentinel password before the sentinel", "coven {\n\tbroker redis {\n\t\tsentinel_password x\n\t\tsentinel m s:26379\n\t}\n}", nil, "after the sentinel line"},
		{"a password beside a URL", "coven {\n\tbroker redis redis://a {\n\t\tpassword x\n\t}\n}", nil, "a URL carries its own"},
		{"unknown type", "coven {\n\tbroker nats nats://x\n}", nil, `unknown type "nats"`},
		{"redis without a URL", "coven {\n\tbroker redis\n}", nil, "expected a URL, such as {env.REDIS_URL}, or a sentinel or cluster option"},
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
	t.Setenv("COVEN_TEST_SENTINELS", "10.0.0.2:26379 10.0.0.3:26379")
	t.Setenv("COVEN_TEST_SENTINEL_PASSWORD", "spw")
	t.Setenv("COVEN_TEST_REDIS_PASSWORD", "rpw")
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
		{"sentinel, its addresses and passwords from the environment",
			&BrokerConfig{Type: BrokerRedis, Sentinel: &SentinelConfig{MasterName: "coven", Addresses: []string{"10.0.0.1:26379", "{env.COVEN_TEST_SENTINELS}"},
				Password: "{env.COVEN_TEST_SENTINEL_PASSWORD}"}, Password: "{env.COVEN_TEST_REDIS_PASSWORD}"}, 500,
			&redisbroker.Config{Sentinel: &redisbroker.Sentinel{MasterName: "coven", Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
				Password: "spw"}, Password: "rpw", StreamLength: 500}, ""},
		{"cluster nodes from the environment",
			&BrokerConfig{Type: BrokerRedis, Cluster: &ClusterConfig{Addresses: []string{"{env.COVEN_TEST_SENTINELS}"}}, Username: "edge"}, 500,
			&redisbroker.Config{Cluster: &redisbroker.Cluster{Addrs: []string{"10.0.0.2:26379", "10.0.0.3:26379"}}, Username: "edge", StreamLength: 500}, ""},
		{"a sentinel password not set", &BrokerConfig{Type: BrokerRedis, Sentinel: &SentinelConfig{MasterName: "coven", Addresses: []string{"s:26379"}, Password: "{env.COVEN_TEST_UNSET_PASSWORD}"}}, 0, nil,
			"sentinel_password \"{env.COVEN_TEST_UNSET_PASSWORD}\" resolved to an empty value: environment variable COVEN_TEST_UNSET_PASSWORD is not set"},
		{"cluster addresses that resolve to none", &BrokerConfig{Type: BrokerRedis, Cluster: &ClusterConfig{Addresses: []string{"{env.COVEN_TEST_UNSET_NODES}"}}}, 0, nil,
			"COVEN_TEST_UNSET_NODES is not set"},
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
		{"sentinel", &BrokerConfig{Type: BrokerRedis, Sentinel: &SentinelConfig{MasterName: "m", Addresses: []string{"s:26379"}}, Password: "x"}, ""},
		{"cluster", &BrokerConfig{Type: BrokerRedis, Cluster: &ClusterConfig{Addresses: []string{"c:6379"}}}, ""},
		{"sentinel without a master name", &BrokerConfig{Type: BrokerRedis, Sentinel: &SentinelConfig{Addresses: []string{"s:26379"}}}, "name the sentinels monitor"},
		{"sentinel without addresses", &BrokerConfig{Type: BrokerRedis, Sentinel: &SentinelConfig{MasterName: "m"}}, "sentinels' addresses"},
		{"cluster without addresses", &BrokerConfig{Type: BrokerRedis, Cluster: &ClusterConfig{}}, "addresses of some of its nodes"},
		{"a URL and a cluster", &BrokerConfig{Type: BrokerRedis, URL: "redis://h", Cluster: &ClusterConfig{Addresses: []string{"c:6379"}}}, "one of"},
		{"memory with a cluster", &BrokerConfig{Type: BrokerMemory, Cluster: &ClusterConfig{Addresses: []string{"c:6379"}}}, "no Redis settings"},
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
