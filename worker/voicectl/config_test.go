package voicectl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// TestConfigDefaults: every limit has a default.
func TestConfigDefaults(t *testing.T) {
	f := &fakeDiscord{}
	c, err := New(Config{GuildID: testGuild, Gateway: f, Rooms: f})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.cfg.JoinTimeout != DefaultJoinTimeout || c.cfg.MaxRecordingBytes != DefaultMaxRecordingBytes || c.cfg.Logger == nil {
		t.Fatalf("defaults %+v", c.cfg)
	}
	v, _ := webhook.NewVerifier(webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{testSecret}})
	h, err := NewHandler(c, HandlerConfig{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	if h.cfg.MaxRequestBytes != DefaultMaxRequestBytes || h.cfg.MaxRecentRequests != DefaultMaxRecentRequests || h.cfg.ReadTimeout != DefaultReadTimeout {
		t.Fatalf("handler defaults %+v", h.cfg)
	}
	if h.auth.Window() != 2*webhook.DefaultCovenTolerance {
		t.Fatalf("request ids are remembered for %v", h.auth.Window())
	}
}

// TestConfigRefuses: bad settings are refused with an error that names them.
func TestConfigRefuses(t *testing.T) {
	f := &fakeDiscord{}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name   string
		mutate func(*Config)
		msg    string
	}{
		{"guild not a snowflake", func(c *Config) { c.GuildID = "guild" }, "GuildID"},
		{"no gateway", func(c *Config) { c.Gateway = nil }, "Gateway"},
		{"no rooms", func(c *Config) { c.Rooms = nil }, "Rooms"},
		{"media directory missing", func(c *Config) { c.MediaDir = filepath.Join(t.TempDir(), "nope") }, "MediaDir"},
		{"recordings directory a file", func(c *Config) { c.RecordingsDir = file }, "RecordingsDir"},
		{"negative join timeout", func(c *Config) { c.JoinTimeout = -time.Second }, "JoinTimeout"},
		{"negative recording limit", func(c *Config) { c.MaxRecordingBytes = -1 }, "MaxRecordingBytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{GuildID: testGuild, Gateway: f, Rooms: f}
			c.mutate(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want one naming %s", err, c.msg)
			}
		})
	}
	ctl, _ := New(Config{GuildID: testGuild, Gateway: f, Rooms: f})
	defer ctl.Close()
	v, _ := webhook.NewVerifier(webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{testSecret}})
	for _, hc := range []HandlerConfig{{}, {Verifier: v, MaxRequestBytes: -1}, {Verifier: v, MaxRecentRequests: -1}, {Verifier: v, ReadTimeout: -1}} {
		if _, err := NewHandler(ctl, hc); err == nil {
			t.Fatalf("NewHandler accepted %+v", hc)
		}
	}
}

// TestRelativeNames: what checkRelative lets through stays in its directory.
func TestRelativeNames(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"song.opus", true},
		{"albums/2026/song.opus", true},
		{"a/../song.opus", true},
		{"", false},
		{"/etc/passwd", false},
		{"..", false},
		{"../song.opus", false},
		{"a/../../song.opus", false},
		{`a\..\..\song.opus`, false},
		{"song\x00.opus", false},
		{strings.Repeat("a", maxNameLength+1), false},
	}
	for _, c := range cases {
		if err := checkRelative(c.name, "file"); (err == nil) != c.ok {
			t.Errorf("checkRelative(%q) = %v, want ok %v", c.name, err, c.ok)
		}
	}
}
