package voice

import (
	"strings"
	"testing"
	"time"
)

func TestConfigLimits(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero value", Config{}, ""},
		{"legacy on opt-in", Config{AllowLegacyEncryption: true}, ""},
		{"legacy listed without opt-in", Config{Modes: []Mode{ModeXSalsa20Poly1305}}, "without AllowLegacyEncryption"},
		{"unknown mode", Config{Modes: []Mode{"aes"}}, "unsupported mode"},
		{"bad scheme", Config{Scheme: "http"}, "Scheme"},
		{"negative handshake timeout", Config{HandshakeTimeout: -time.Second}, "HandshakeTimeout"},
		{"negative backoff", Config{ReconnectBackoff: -1}, "ReconnectBackoff"},
		{"negative attempts", Config{ReconnectAttempts: -1}, "ReconnectAttempts"},
		{"packet size below the minimum", Config{MaxPacketSize: 100}, "MaxPacketSize"},
		{"video MTU above the packet size", Config{VideoMTU: 1400, MaxPacketSize: 1300}, "VideoMTU"},
		{"negative message size", Config{MaxMessageBytes: -1}, "MaxMessageBytes"},
		{"jitter depth too large", Config{Jitter: JitterConfig{Depth: 5000}}, "Depth"},
		{"negative grace", Config{UnmappedGrace: -1}, "UnmappedGrace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cfg.withDefaults()
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Scheme != "wss" || got.HandshakeTimeout != 10*time.Second || got.MaxPacketSize != 1500 || got.SilenceFrames != 5 {
					t.Fatalf("defaults not applied: %+v", got)
				}
				if c.cfg.AllowLegacyEncryption && got.Modes[len(got.Modes)-1] != ModeXSalsa20Poly1305 {
					t.Fatalf("legacy mode not appended: %v", got.Modes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("withDefaults = %v, want an error about %s", err, c.wantErr)
			}
		})
	}
}

func TestGatewayURL(t *testing.T) {
	cases := map[string]string{
		"c-fra15.discord.media:443": "wss://c-fra15.discord.media:443/?v=8",
		"c-fra15.discord.media":     "wss://c-fra15.discord.media/?v=8",
	}
	for endpoint, want := range cases {
		if got := gatewayURL("wss", endpoint); got != want {
			t.Errorf("gatewayURL(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

func TestLatenessHistogram(t *testing.T) {
	var h LatenessHistogram
	for i := range 100 {
		h.Add(time.Duration(i) * 10 * time.Microsecond) // 0 to 990 µs
	}
	h.Add(50 * time.Millisecond)
	if h.Count() != 101 || h.Max() != 50*time.Millisecond {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
	if p := h.Percentile(0.5); p != 500*time.Microsecond { // the 50th of 101: 490 µs, in the bucket ending at 500
		t.Fatalf("p50 = %v", p)
	}
	if p := h.Percentile(0.99); p != time.Millisecond {
		t.Fatalf("p99 = %v", p)
	}
	if p := h.Percentile(1); p != 50*time.Millisecond {
		t.Fatalf("p100 = %v", p)
	}
}
