package covenws

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileLimits(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser(`coven_ws {
		max_per_subject 3
		max_per_ip 50
		max_unauthenticated 5
		max_connections 1000
		message_rate 2.5/s 7
		refusal_delay 250ms
		stream_rate 0.5/s 4
	}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.MaxPerSubject != 3 || h.MaxPerIP != 50 || h.MaxUnauthenticated != 5 || h.MaxConnections != 1000 || h.MessageRate != 2.5 || h.MessageBurst != 7 ||
		h.RefusalDelay != caddy.Duration(250*time.Millisecond) || h.StreamRate != 0.5 || h.StreamBurst != 4 {
		t.Fatalf("parsed %+v", h)
	}
	for in, want := range map[string]string{
		"message_rate 10":        "want a positive number per second",
		"message_rate 0/s":       "want a positive number",
		"message_rate x/s":       "want a positive number",
		"message_rate 10/s 0":    "burst",
		"message_rate 10/s 2 3":  "message_rate takes <n>/s and an optional burst",
		"message_rate":           "takes <n>/s",
		"max_per_ip -1":          "not a non-negative whole number",
		"max_per_subject lots":   "not a non-negative whole number",
		"max_connections 1 2":    "",
		"max_unauthenticated -3": "not a non-negative whole number",
		"refusal_delay -1s":      "is not a duration",
		"stream_rate 3":          "want a positive number per second",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("coven_ws {\n" + in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %q", in, err, want)
		}
	}
	// Values that parse but are out of range are refused by Validate.
	for in, want := range map[string]string{
		"refusal_delay 11s": "refusal_delay 11s: want at most 10s",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("coven_ws {\n" + in + "\n}")); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: Validate says %v, want an error about %q", in, err, want)
		}
	}
}
