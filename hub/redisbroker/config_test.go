package redisbroker

import (
	"strings"
	"testing"
	"time"
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
	opts := explicit.options()
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
		{"no URL", Config{}, "empty"},
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
