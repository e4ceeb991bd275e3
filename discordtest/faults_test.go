package discordtest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRESTFaults(t *testing.T) {
	s := startEmulator(t, nil)
	g := firstGuild(t, s)
	create := apiCall{method: "POST", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth, body: map[string]any{"name": "x"}}
	me := apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}

	t.Run("server errors on one route", func(t *testing.T) {
		if err := s.AddRESTFault(RESTFault{Kind: FaultServerError, Route: "POST /guilds/{guild.id}/channels", Count: 2}); err != nil {
			t.Fatal(err)
		}
		if resp, _ := me.do(t, s); resp.StatusCode != 200 {
			t.Fatalf("other route affected: %d", resp.StatusCode)
		}
		for i := range 2 {
			if resp, _ := create.do(t, s); resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("request %d: %d, want 502", i, resp.StatusCode)
			}
		}
		if resp, _ := create.do(t, s); resp.StatusCode != 201 {
			t.Fatalf("after the fault is spent: %d, want 201", resp.StatusCode)
		}
	})

	t.Run("custom status", func(t *testing.T) {
		if err := s.AddRESTFault(RESTFault{Kind: FaultServerError, Status: 503, Count: 1}); err != nil {
			t.Fatal(err)
		}
		if resp, _ := me.do(t, s); resp.StatusCode != 503 {
			t.Fatalf("%d, want 503", resp.StatusCode)
		}
	})

	t.Run("delay", func(t *testing.T) {
		if err := s.AddRESTFault(RESTFault{Kind: FaultDelay, Delay: 5 * time.Second, Count: 1}); err != nil {
			t.Fatal(err)
		}
		// The delayed request is bounded by its own deadline, which ends first.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v10/users/@me", nil)
		req.Header.Set("Authorization", botAuth)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("delayed request answered: %s", resp.Status)
		}
		if resp, _ := me.do(t, s); resp.StatusCode != 200 {
			t.Fatalf("after the delay fault: %d", resp.StatusCode)
		}
	})

	t.Run("global rate limit storm until cleared", func(t *testing.T) {
		if err := s.AddRESTFault(RESTFault{Kind: FaultRateLimit, Global: true, RetryAfter: 1500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			resp, body := me.do(t, s)
			if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Global") != "true" || resp.Header.Get("Retry-After") != "2" {
				t.Fatalf("storm answer %d %v", resp.StatusCode, resp.Header)
			}
			if got := decodeJSON[map[string]any](t, body); got["retry_after"] != 1.5 || got["global"] != true {
				t.Fatalf("storm body %s", body)
			}
		}
		s.ClearRESTFaults()
		if resp, _ := me.do(t, s); resp.StatusCode != 200 {
			t.Fatalf("after clearing: %d", resp.StatusCode)
		}
	})

	t.Run("user rate limit storm for a while", func(t *testing.T) {
		if err := s.AddRESTFault(RESTFault{Kind: FaultRateLimit, Scope: "user", For: 150 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		resp, _ := me.do(t, s)
		if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Scope") != "user" || resp.Header.Get("X-RateLimit-Remaining") != "0" {
			t.Fatalf("storm answer %d %v", resp.StatusCode, resp.Header)
		}
		waitFor(t, "the storm to pass", 5*time.Second, func() bool {
			resp, _ := me.do(t, s)
			return resp.StatusCode == 200
		})
	})
}

func TestRESTFaultValidation(t *testing.T) {
	s := startEmulator(t, nil)
	tests := []struct {
		name  string
		fault RESTFault
		want  string
	}{
		{"unknown kind", RESTFault{Kind: "explode"}, "unknown REST fault kind"},
		{"unknown route", RESTFault{Kind: FaultServerError, Route: "GET /nothing"}, "unknown route"},
		{"status not 5xx", RESTFault{Kind: FaultServerError, Status: 404}, "not 5xx"},
		{"delay without duration", RESTFault{Kind: FaultDelay}, "positive Delay"},
		{"negative count", RESTFault{Kind: FaultRateLimit, Count: -1}, "must not be negative"},
		{"negative retry", RESTFault{Kind: FaultRateLimit, RetryAfter: -time.Second}, "must not be negative"},
		{"unknown scope", RESTFault{Kind: FaultRateLimit, Scope: "guild"}, "not shared or user"},
		{"global with a user scope", RESTFault{Kind: FaultRateLimit, Global: true, Scope: "user"}, "has scope global"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.AddRESTFault(tt.fault); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if resp, _ := (apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}).do(t, s); resp.StatusCode != 200 {
		t.Fatalf("a rejected fault took effect: %d", resp.StatusCode)
	}
}
