package redisbroker

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{URL: "redis://127.0.0.1:6379"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		URL: "redis://127.0.0.1:6379", KeyPrefix: DefaultKeyPrefix, StreamLength: DefaultStreamLength,
		CheckpointInterval: DefaultCheckpointInterval, DialTimeout: DefaultDialTimeout, ReadTimeout: DefaultReadTimeout,
		ReadCount: DefaultReadCount, ReconnectInterval: DefaultReconnectInterval,
	}
	if c != want {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
	small, err := Config{URL: "redis://h", StreamLength: 100}.withDefaults()
	if err != nil || small.CheckpointInterval != 50 {
		t.Errorf("a short stream checkpoints every %d events (%v), want every 50", small.CheckpointInterval, err)
	}
	fromURL, err := Config{URL: "redis://h?dial_timeout=7s&read_timeout=3"}.withDefaults()
	if err != nil || fromURL.DialTimeout != 7*time.Second || fromURL.ReadTimeout != 3*time.Second {
		t.Errorf("timeouts from the URL: %+v %v", fromURL, err)
	}
	explicit, err := Config{URL: "redis://h?dial_timeout=7s", DialTimeout: time.Second}.withDefaults()
	if err != nil || explicit.DialTimeout != time.Second {
		t.Errorf("an explicit DialTimeout does not win over the URL's: %+v %v", explicit, err)
	}
	opts := explicit.options(0, 1)
	if opts.DialTimeout != time.Second || opts.ReadTimeout != DefaultReadTimeout || opts.Addr != "h:6379" {
		t.Errorf("go-redis options: dial %v read %v addr %s", opts.DialTimeout, opts.ReadTimeout, opts.Addr)
	}
}

// TestConfigRefusesBadValues lists what New refuses, each with an error naming the field, and never
// showing the URL's password.
func TestConfigRefusesBadValues(t *testing.T) {
	const password = "pa55word-that-must-not-show"
	ok := "redis://127.0.0.1:6379"
	cases := []struct {
		name string
		cfg  Config
		says string
	}{
		{"no Redis", Config{}, "no Redis"},
		{"an empty URL beside Cluster", Config{URL: "", Cluster: &Cluster{}}, "Cluster needs at least one address"},
		{"a URL and Sentinel", Config{URL: ok, Sentinel: &Sentinel{MasterName: "m", Addrs: []string{"s:26379"}}}, "only one"},
		{"Sentinel and Cluster", Config{Sentinel: &Sentinel{MasterName: "m", Addrs: []string{"s:26379"}}, Cluster: &Cluster{Addrs: []string{"c:6379"}}}, "only one"},
		{"a password beside a URL", Config{URL: ok, Password: password}, "a URL carries its own"},
		{"Sentinel without a master name", Config{Sentinel: &Sentinel{Addrs: []string{"s:26379"}, Password: password}}, "MasterName"},
		{"Sentinel without addresses", Config{Sentinel: &Sentinel{MasterName: "m"}}, "Sentinel needs at least one address"},
		{"a sentinel without a port", Config{Sentinel: &Sentinel{MasterName: "m", Addrs: []string{"s:26379", "s2"}}}, `"s2" is not host:port`},
		{"a cluster node with a bad port", Config{Cluster: &Cluster{Addrs: []string{"c:99999"}}, Password: password}, "port must be a number"},
		{"a cluster node without a host", Config{Cluster: &Cluster{Addrs: []string{":6379"}}}, "not host:port"},
		{"another scheme", Config{URL: "http://127.0.0.1:6379"}, `scheme "http"`},
		{"not a URL", Config{URL: "redis://:" + password + "@127.0.0.1:port"}, "invalid Redis URL"},
		{"a database that is not a number", Config{URL: "redis://:" + password + "@127.0.0.1/zero"}, "database"},
		{"an unknown option", Config{URL: "redis://:" + password + "@127.0.0.1/0?pool=3"}, "pool"},
		{"TLS with a bad option", Config{URL: "rediss://u:" + password + "@127.0.0.1/0?skip_verify=maybe"}, "skip_verify"},
		{"negative stream length", Config{URL: ok, StreamLength: -1}, "StreamLength"},
		{"stream too long", Config{URL: ok, StreamLength: MaxStreamLength + 1}, "StreamLength"},
		{"stream of one", Config{URL: ok, StreamLength: 1}, "StreamLength"},
		{"checkpoints further apart than half the stream", Config{URL: ok, StreamLength: 100, CheckpointInterval: 51}, "CheckpointInterval"},
		{"negative checkpoint interval", Config{URL: ok, CheckpointInterval: -5}, "CheckpointInterval"},
		{"negative read count", Config{URL: ok, ReadCount: -1}, "ReadCount"},
		{"read count too large", Config{URL: ok, ReadCount: MaxReadCount + 1}, "ReadCount"},
		{"negative dial timeout", Config{URL: ok, DialTimeout: -time.Second}, "DialTimeout"},
		{"negative read timeout", Config{URL: ok, ReadTimeout: -time.Second}, "ReadTimeout"},
		{"negative reconnect interval", Config{URL: ok, ReconnectInterval: -time.Second}, "ReconnectInterval"},
		{"a prefix with a space", Config{URL: ok, KeyPrefix: "coven "}, "KeyPrefix"},
		{"a prefix with a brace", Config{URL: ok, KeyPrefix: "{coven}"}, "braces"},
		{"a prefix too long", Config{URL: ok, KeyPrefix: strings.Repeat("k", 201)}, "KeyPrefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.cfg, nil)
			if err == nil {
				b.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestRedactedURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:secret@10.0.0.5:6379/0": "redis://:xxxxx@10.0.0.5:6379/0",
		"rediss://user:secret@redis:6380": "rediss://user:xxxxx@redis:6380",
		"redis://127.0.0.1:6379":          "redis://127.0.0.1:6379",
		"redis://:secret@host:port":       "(invalid URL)",
	} {
		if got := redacted(in); got != want {
			t.Errorf("redacted(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTopologies checks the client each way of locating Redis builds, and how errors name it: with
// its addresses, never with a password.
func TestTopologies(t *testing.T) {
	const password, sentinelPassword = "redis-pa55word", "sentinel-pa55word"
	cases := []struct {
		name  string
		cfg   Config
		where string
		want  any
	}{
		{"one primary", Config{URL: "redis://:" + password + "@10.0.0.5:6379/0"}, "10.0.0.5:6379", &redis.Client{}},
		{"sentinel", Config{Sentinel: &Sentinel{MasterName: "coven", Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, Password: sentinelPassword}, Password: password},
			"sentinel coven (10.0.0.1:26379,10.0.0.2:26379)", &redis.Client{}},
		{"cluster", Config{Cluster: &Cluster{Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379"}}, Username: "edge", Password: password},
			"cluster 10.0.0.1:6379,10.0.0.2:6379", &redis.ClusterClient{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got, want := reflect.TypeOf(b.Client()), reflect.TypeOf(tc.want); got != want {
				t.Errorf("client %v, want %v", got, want)
			}
			secrets := []string{password}
			if tc.cfg.Sentinel != nil {
				secrets = append(secrets, sentinelPassword)
			}
			for _, secret := range secrets {
				err := b.describe(errors.New("WRONGPASS " + secret))
				if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), tc.where) {
					t.Errorf("describe = %q, want it to name %q and hide the password", err, tc.where)
				}
			}
			if got := b.KeyPrefix(); got != "{coven:}" {
				t.Errorf("keys start with %q, want the hash tag {coven:}", got)
			}
		})
	}
}
